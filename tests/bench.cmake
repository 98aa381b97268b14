# renkei-bench --quick still runs and writes every figure: no timing is
# asserted, only that the benchmark works (LABEL bench, normal build only).
add_test(NAME bench_quick
  COMMAND ${CMAKE_COMMAND} -E env RENKEI_BENCH=$<TARGET_FILE:renkei-bench>
          RENKEI_BENCH_JSON=${CMAKE_CURRENT_BINARY_DIR}/bench_quick.json
          /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/bench_check.py)
set_tests_properties(bench_quick PROPERTIES LABELS bench TIMEOUT 120
  ENVIRONMENT "RENKEI_BIN_DIR=${PROJECT_BINARY_DIR}/bin;RENKEI_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
