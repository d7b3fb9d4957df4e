# Network layer tests (src/net.c, src/transport_curl.c). The integration part
# starts tests/net_servers.py, which needs Python 3 with grpcio
# (pip install grpcio==1.85.1); choose the interpreter with
# -DCONFIDENCE_TEST_PYTHON=... or the environment variable of the same name.
find_program(CONFIDENCE_TEST_PYTHON NAMES python3 python DOC "Python with grpcio for test_net")
if(NOT CONFIDENCE_TEST_PYTHON)
  # keep the test: it fails loudly at run time instead of vanishing
  set(CONFIDENCE_TEST_PYTHON_RUN python3)
else()
  set(CONFIDENCE_TEST_PYTHON_RUN ${CONFIDENCE_TEST_PYTHON})
endif()

confidence_test(test_net test_net.c)
find_package(CURL REQUIRED)
find_package(Threads REQUIRED)
target_link_libraries(test_net PRIVATE CURL::libcurl OpenSSL::Crypto Threads::Threads)
add_test(NAME test_net COMMAND test_net ${CONFIDENCE_TEST_PYTHON_RUN} ${CMAKE_CURRENT_SOURCE_DIR}/net_servers.py)
set_tests_properties(test_net PROPERTIES TIMEOUT 180)
# so that running build/tests/test_net by hand finds its servers too
target_compile_definitions(test_net PRIVATE CONFIDENCE_NET_SERVERS="${CMAKE_CURRENT_SOURCE_DIR}/net_servers.py"
  CONFIDENCE_TEST_PYTHON="${CONFIDENCE_TEST_PYTHON_RUN}")
