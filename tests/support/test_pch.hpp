#pragma once
// The headers nearly every test translation unit includes, compiled once per build into a
// precompiled header that every test target reuses (tests/CMakeLists.txt): Catch2 alone costs
// about a second of parsing in each of the ~100 test files.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
