# The hub's durable state (LMDB) and the operator's tool.
# The default procedure catalogue, compiled in from its text file.
set(CATALOGUE_DEFAULT ${CMAKE_CURRENT_SOURCE_DIR}/catalogue.default)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CATALOGUE_DEFAULT})
file(READ ${CATALOGUE_DEFAULT} catalogue_hex HEX)
string(LENGTH "${catalogue_hex}" catalogue_hex_len)
math(EXPR catalogue_len "${catalogue_hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," catalogue_bytes "${catalogue_hex}")
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/catalogue_default.c.new
  "/* Generated from hub/catalogue.default at configure time. */\n"
  "#include \"catalogue.h\"\n"
  "const char catalogue_default_text[] = {${catalogue_bytes} 0};\n"
  "const size_t catalogue_default_len = ${catalogue_len};\n")
file(COPY_FILE ${CMAKE_CURRENT_BINARY_DIR}/catalogue_default.c.new ${CMAKE_CURRENT_BINARY_DIR}/catalogue_default.c
  ONLY_IF_DIFFERENT)
# renkei_catalogue: the catalogue's text format and lookups and the policy
# decided from it, no store (the agent checks what it sends against the
# catalogue the signed directory carries).
add_library(renkei_catalogue STATIC ${CMAKE_CURRENT_SOURCE_DIR}/catalogue.c ${CMAKE_CURRENT_SOURCE_DIR}/policy.c
  ${CMAKE_CURRENT_BINARY_DIR}/catalogue_default.c)
target_include_directories(renkei_catalogue PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(renkei_catalogue PUBLIC renkei_wire renkei_common)
set(RENKEI_STORE_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/store.c ${CMAKE_CURRENT_SOURCE_DIR}/catalogue_store.c
  ${CMAKE_CURRENT_SOURCE_DIR}/reseal.c)
add_library(renkei_store STATIC ${RENKEI_STORE_SOURCES})
target_include_directories(renkei_store PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(renkei_store PUBLIC renkei_catalogue renkei_wire renkei_tlog lmdb::lmdb PkgConfig::SODIUM)

add_executable(renkei-ctl ${CMAKE_CURRENT_SOURCE_DIR}/ctl.c)
target_link_libraries(renkei-ctl PRIVATE renkei_store renkei_keys PkgConfig::ZMQ)
