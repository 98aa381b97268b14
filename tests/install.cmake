# test_install: cmake --install into a scratch prefix, the move through the
# installed programs, and a program built against the installed library
# with pkg-config alone (tests/install_check.sh says what it checks).
set(install_cflags)
if(RENKEI_SANITIZE)
  # The installed library is instrumented: so must the client be.
  set(install_cflags -fsanitize=address,undefined -fno-omit-frame-pointer)
endif()
add_test(NAME test_install
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/install_check.sh ${PROJECT_BINARY_DIR} ${CMAKE_INSTALL_LIBDIR}
          $<TARGET_FILE:test_it_move> ${CMAKE_CURRENT_SOURCE_DIR}/install_client.c ${CMAKE_C_COMPILER}
          ${install_cflags})
set_tests_properties(test_install PROPERTIES LABELS "integration;install" TIMEOUT 300)

# test_packaging: the Debian packages (renkei, librenkei-agent0,
# librenkei-agent-dev) built by CPack in a build directory of their own
# (prefix /usr), then lintian on each; any error (E:) fails.
add_test(NAME test_packaging
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/packaging_check.sh ${PROJECT_SOURCE_DIR}
          ${PROJECT_BINARY_DIR}/packaging-test)
set_tests_properties(test_packaging PROPERTIES LABELS packaging TIMEOUT 1200)
