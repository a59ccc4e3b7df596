#!/usr/bin/env python3
"""The one layout rule the compiler does not check, run by CTest (label lint): librdkafka stays
behind libs/kafka - no file outside libs/kafka/src includes one of its headers (the library links
it PRIVATE, but /usr/include would still let an include through).

The others are the build's: each library sees only the headers of what it links
(cmake/Cryptoflow.cmake), so the domain core (libs/messages, the stream-processor's window
engine), which links nothing of libs/runtime or libs/kafka, cannot include them.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
include = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.M)
sources = [p for d in ("libs", "services", "tests", "docs") for p in (root / d).rglob("*")
           if p.suffix in (".cpp", ".hpp", ".h", ".cc", ".in")]
errors = []
for path in sources:
    rel = path.relative_to(root).as_posix()
    for header in include.findall(path.read_text(errors="replace")):
        if header.startswith("librdkafka/") and not rel.startswith("libs/kafka/src/"):
            errors.append(f"{rel}: includes <{header}>: only libs/kafka/src may (use cryptoflow/kafka/*.hpp)")
for e in errors:
    print(e)
print(f"{len(sources)} files checked, {len(errors)} problems")
sys.exit(1 if errors else 0)
