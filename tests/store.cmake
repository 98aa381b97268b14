# The hub's storage module, against real LMDB directories.
renkei_add_test(test_store SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_store.c
  LIBS renkei_store lmdb::lmdb PkgConfig::SODIUM LABEL unit TIMEOUT 120)
