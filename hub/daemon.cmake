# renkei_hub: the hub's core as a library (routing, policy, connections, the
# routing log, verification and the event loop), unit-testable without
# sockets; renkei-hub is the daemon's main() over it.
add_library(renkei_hub STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/policy.c
  ${CMAKE_CURRENT_SOURCE_DIR}/route.c
  ${CMAKE_CURRENT_SOURCE_DIR}/audit.c
  ${CMAKE_CURRENT_SOURCE_DIR}/conns.c
  ${CMAKE_CURRENT_SOURCE_DIR}/log.c
  ${CMAKE_CURRENT_SOURCE_DIR}/verify.c
  ${CMAKE_CURRENT_SOURCE_DIR}/hub.c)
target_include_directories(renkei_hub PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(renkei_hub PUBLIC renkei_store renkei_tlog renkei_keys renkei_wire PkgConfig::ZMQ PkgConfig::SODIUM Threads::Threads)

add_executable(renkei-hub ${CMAKE_CURRENT_SOURCE_DIR}/main.c)
target_link_libraries(renkei-hub PRIVATE renkei_hub)
