# CONFIDENCE_STATIC_DEPS_PREFIX: every dependency is the static PIC archive
# under that prefix (scripts/wheel-deps.sh builds them), never the system's,
# so a binary wheel carries its libraries inside the extension. Defines the
# same imported targets the system lookups give (PkgConfig::PROTOBUF_C,
# PkgConfig::JANSSON, PkgConfig::HIREDIS, ZLIB::ZLIB, OpenSSL::Crypto,
# CURL::libcurl), each naming what its archive needs after it on the link
# line, since a static archive carries no list of its own dependencies.
set(prefix ${CONFIDENCE_STATIC_DEPS_PREFIX})
if(NOT IS_DIRECTORY ${prefix}/lib OR NOT IS_DIRECTORY ${prefix}/include)
  message(FATAL_ERROR "CONFIDENCE_STATIC_DEPS_PREFIX=${prefix}: no lib/ and include/ (run scripts/wheel-deps.sh)")
endif()

# confidence_static_dep(<target> <archive name> [DEPS <targets or flags>...])
function(confidence_static_dep target lib)
  cmake_parse_arguments(arg "" "" "DEPS" ${ARGN})
  set(path ${prefix}/lib/lib${lib}.a)
  if(NOT EXISTS ${path})
    message(FATAL_ERROR "${path} missing (run scripts/wheel-deps.sh)")
  endif()
  add_library(${target} STATIC IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES IMPORTED_LOCATION ${path}
    INTERFACE_INCLUDE_DIRECTORIES ${prefix}/include INTERFACE_LINK_LIBRARIES "${arg_DEPS}")
endfunction()

find_package(Threads REQUIRED)
confidence_static_dep(ZLIB::ZLIB z)
confidence_static_dep(OpenSSL::Crypto crypto DEPS Threads::Threads ${CMAKE_DL_LIBS})
confidence_static_dep(OpenSSL::SSL ssl DEPS OpenSSL::Crypto)
confidence_static_dep(confidence_dep_nghttp2 nghttp2)
confidence_static_dep(CURL::libcurl curl
  DEPS confidence_dep_nghttp2 OpenSSL::SSL ZLIB::ZLIB Threads::Threads)
confidence_static_dep(PkgConfig::PROTOBUF_C protobuf-c)
confidence_static_dep(PkgConfig::JANSSON jansson)
confidence_static_dep(PkgConfig::HIREDIS hiredis)
message(STATUS "Dependencies: static archives from ${prefix}")
