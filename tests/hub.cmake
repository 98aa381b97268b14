renkei_add_test(test_route SOURCES test_route.c LIBS renkei_hub)
renkei_add_test(test_msgstate SOURCES test_msgstate.c LIBS renkei_hub)
renkei_add_test(test_conns SOURCES test_conns.c LIBS renkei_hub)
renkei_add_test(test_verify SOURCES test_verify.c LIBS renkei_hub LABEL unit TIMEOUT 30)
