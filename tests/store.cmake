# The hub's storage module, against real LMDB directories.
renkei_add_test(test_store SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_store.c
  LIBS renkei_store lmdb::lmdb PkgConfig::SODIUM LABEL unit TIMEOUT 120)

# Re-sealing the store under a new master key (hub/reseal.h).
renkei_add_test(test_reseal SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_reseal.c
  LIBS renkei_store lmdb::lmdb PkgConfig::SODIUM LABEL unit TIMEOUT 120)

# renkei-ctl as the operator runs it (the built renkei-keygen and renkei-ctl).
renkei_add_test(test_ctl SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_ctl.c
  LIBS renkei_store renkei_keys LABEL integration TIMEOUT 60)
add_dependencies(test_ctl renkei-ctl renkei-keygen)
