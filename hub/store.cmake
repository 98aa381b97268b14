# The hub's durable state (LMDB) and the operator's tool.
add_library(renkei_store STATIC ${CMAKE_CURRENT_SOURCE_DIR}/store.c)
target_include_directories(renkei_store PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(renkei_store PUBLIC renkei_wire renkei_tlog lmdb::lmdb PkgConfig::SODIUM)

add_executable(renkei-ctl ${CMAKE_CURRENT_SOURCE_DIR}/ctl.c)
target_link_libraries(renkei-ctl PRIVATE renkei_store renkei_keys PkgConfig::ZMQ)
