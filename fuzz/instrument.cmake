# Included from the top-level CMakeLists.txt when RENKEI_FUZZ is on, before
# any library is defined: every library is compiled with libFuzzer's coverage
# instrumentation and AddressSanitizer + UndefinedBehaviorSanitizer, so the
# fuzz targets in fuzz/ see (and check) the code they call.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "RENKEI_FUZZ needs clang (libFuzzer): configure a separate build "
                      "directory with CC=clang, e.g. CC=clang cmake -S . -B build-fuzz -DRENKEI_FUZZ=ON")
endif()
if(RENKEI_SANITIZE)
  message(FATAL_ERROR "RENKEI_FUZZ already builds with ASan + UBSan; leave RENKEI_SANITIZE off")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                    -fno-sanitize-recover=undefined)
add_link_options(-fsanitize=address,undefined)
