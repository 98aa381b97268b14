# The routing core as a library (unit-testable without sockets), and the daemon.
add_library(renkei_route STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/policy.c
  ${CMAKE_CURRENT_SOURCE_DIR}/route.c
  ${CMAKE_CURRENT_SOURCE_DIR}/audit.c
  ${CMAKE_CURRENT_SOURCE_DIR}/conns.c
  ${CMAKE_CURRENT_SOURCE_DIR}/log.c
  ${CMAKE_CURRENT_SOURCE_DIR}/verify.c
  ${CMAKE_CURRENT_SOURCE_DIR}/hub.c)
target_include_directories(renkei_route PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(renkei_route PUBLIC renkei_store renkei_tlog renkei_keys renkei_wire PkgConfig::ZMQ PkgConfig::SODIUM Threads::Threads)

add_executable(renkei-hub ${CMAKE_CURRENT_SOURCE_DIR}/main.c ${CMAKE_CURRENT_SOURCE_DIR}/options.c)
target_link_libraries(renkei-hub PRIVATE renkei_route)
