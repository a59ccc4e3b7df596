# How the project's own targets are declared: each gets the warnings (and -Werror with
# CRYPTOFLOW_WERROR, as CI builds) on the target itself, so nothing the project does not own
# compiles with them, and a library's dependencies decide what it can include: libs/messages and
# the stream-processor's window engine link nothing of libs/runtime or libs/kafka, so the domain
# core cannot include the environment's headers (the compiler checks it).

# -Wno-missing-field-initializers: designated initializers ({.topic = t, .value = v}) leave the
# other members at their defaults on purpose; GCC 12 warns when one in the middle is left out.
set(CRYPTOFLOW_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
                        -Wno-missing-field-initializers -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual)

function(cryptoflow_target_options target)
  target_compile_options(${target} PRIVATE ${CRYPTOFLOW_WARNINGS})
  if(CRYPTOFLOW_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# cryptoflow_library(<target> [ALIAS <namespace::name>] [OBJECT] <sources>...): a static (or
# object) library of the project; include directories and links are the caller's next lines.
function(cryptoflow_library target)
  cmake_parse_arguments(L "OBJECT" "ALIAS" "" ${ARGN})
  if(L_OBJECT)
    add_library(${target} OBJECT ${L_UNPARSED_ARGUMENTS})
  else()
    add_library(${target} STATIC ${L_UNPARSED_ARGUMENTS})
  endif()
  cryptoflow_target_options(${target})
  if(L_ALIAS)
    add_library(${L_ALIAS} ALIAS ${target})
  endif()
endfunction()

# cryptoflow_executable(<target> <sources>...): a service's main, a test, a bench or an example.
function(cryptoflow_executable target)
  add_executable(${target} ${ARGN})
  cryptoflow_target_options(${target})
endfunction()
