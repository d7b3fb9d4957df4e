# Unit tests: one program per module, each printing "N passed, M failed".
# Each test_*.c links the static library, so internals (src/*.h) are testable.
# Data is read in place from CONFORMANCE_DIR (../shared/conformance).

confidence_test(test_textconv test_textconv.c)
add_test(NAME test_textconv COMMAND test_textconv)

confidence_test(test_murmur test_murmur.c)
add_test(NAME test_murmur COMMAND test_murmur ${CONFORMANCE_DIR})

confidence_test(test_value_json test_value_json.c)
add_test(NAME test_value_json COMMAND test_value_json)

confidence_test(test_operators test_operators.c)
target_link_libraries(test_operators PRIVATE ZLIB::ZLIB)
add_test(NAME test_operators COMMAND test_operators)

confidence_test(test_state_load test_state_load.c)
target_link_libraries(test_state_load PRIVATE ZLIB::ZLIB OpenSSL::Crypto Threads::Threads)
add_test(NAME test_state_load COMMAND test_state_load ${CONFORMANCE_DIR})

# Shell tests: exported symbols of the shared library, and the CLI.
find_program(CONFIDENCE_BASH bash)
if(CONFIDENCE_BASH)
  add_test(NAME test_symbols COMMAND ${CONFIDENCE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_symbols.sh $<TARGET_FILE:confidence>)
  set_tests_properties(test_symbols PROPERTIES SKIP_RETURN_CODE 77)
  add_test(NAME test_cli COMMAND ${CONFIDENCE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli.sh $<TARGET_FILE:confidence_cli>
           ${CONFORMANCE_DIR})
endif()

confidence_test(test_api test_api.c)
add_test(NAME test_api COMMAND test_api ${CONFORMANCE_DIR}/resolver-spec)

# Public headers alone as C11 -pedantic and C++17, and a C++ client of every
# _INIT macro; the network-free core library and the CLI built on it.
if(CONFIDENCE_BASH)
  add_test(NAME test_headers COMMAND ${CONFIDENCE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_headers.sh
           ${PROJECT_SOURCE_DIR} $<TARGET_FILE_DIR:confidence_core> ${CONFORMANCE_DIR}/resolver-spec/state.pb
           test-account "${CONFIDENCE_SANITIZE}")
  # The C++ client links the library as built: same compiler family and
  # sanitizer runtime.
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    set(CONFIDENCE_TEST_CXX clang++)
  else()
    set(CONFIDENCE_TEST_CXX c++)
  endif()
  set_tests_properties(test_headers PROPERTIES ENVIRONMENT "CC=${CMAKE_C_COMPILER};CXX=${CONFIDENCE_TEST_CXX}")
  add_test(NAME test_core_lib COMMAND ${CONFIDENCE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_core_lib.sh
           $<TARGET_FILE:confidence_core> $<TARGET_FILE:confidence_cli> ${CONFORMANCE_DIR}/resolver-spec)
endif()

# Hostile values: 200,000-level values, 10^6-attribute contexts, every
# two-letter country code (issue 9).
confidence_test(test_hostile_values test_hostile_values.c)
add_test(NAME test_hostile_values COMMAND test_hostile_values ${CONFORMANCE_DIR}/resolver-spec)
set_tests_properties(test_hostile_values PROPERTIES TIMEOUT 300)

# State memory budget and file loading bounds (issue 9).
confidence_test(test_state_budget test_state_budget.c)
target_link_libraries(test_state_budget PRIVATE ZLIB::ZLIB)
add_test(NAME test_state_budget COMMAND test_state_budget ${CMAKE_CURRENT_BINARY_DIR})

# Every Debian -dev package whose headers the build used is named by
# scripts/install-deps.sh (a fresh machine would miss it otherwise).
add_test(NAME check_deps COMMAND bash ${CONFIDENCE_SHARED_DIR}/tools/check-deps.sh ${CMAKE_BINARY_DIR}
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
