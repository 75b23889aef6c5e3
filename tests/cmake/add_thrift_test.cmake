# Configures (and for CASE=build, builds and runs) tests/cmake/project, a user's project that
# calls thriftpool_add_thrift(), and checks the outcome. Run by ctest:
#   cmake -DCASE=build|missing_idl|missing_compiler|duplicate -DPROJECT=<dir> -DWORK=<dir>
#         -DMODULE=<ThriftpoolAddThrift.cmake> -DCXX=<compiler> [-DLAUNCHER=<ccache>] -P <this>
cmake_minimum_required(VERSION 3.18)

file(REMOVE_RECURSE "${WORK}")
# A copy, so that the test can edit the IDL.
file(COPY "${PROJECT}/" DESTINATION "${WORK}/src")
set(build "${WORK}/build")

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}" PARENT_SCOPE)
  message(STATUS "${what}: exit ${rc}")
endfunction()

function(configure)
  set(args -S "${WORK}/src" -B "${build}" -DCASE=${CASE} "-DTHRIFTPOOL_ADD_THRIFT=${MODULE}"
           "-DCMAKE_CXX_COMPILER=${CXX}" ${ARGN})
  if(LAUNCHER)
    list(APPEND args "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
  endif()
  run(configure "${CMAKE_COMMAND}" ${args})
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}" PARENT_SCOPE)
endfunction()

# A configure that must fail with `expected` in its message.
function(expect_configure_error expected)
  configure(${ARGN})
  # CMake wraps its messages: match them as one line.
  string(REGEX REPLACE "[ \t\r\n]+" " " flat "${out}")
  if(rc EQUAL 0 OR NOT flat MATCHES "${expected}")
    message(FATAL_ERROR "configure should fail with '${expected}', got exit ${rc}:\n${out}")
  endif()
  message(STATUS "failed as expected: ${CMAKE_MATCH_0}")
endfunction()

function(expect_success what)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (exit ${rc}):\n${out}")
  endif()
endfunction()

# A build that must not run thrift: nothing changed since the last one.
function(expect_no_generation what)
  run("${what}" "${CMAKE_COMMAND}" --build "${build}" -j2)
  expect_success("${what}")
  if(out MATCHES "thrift: generating")
    message(FATAL_ERROR "${what} ran thrift again, with nothing changed:\n${out}")
  endif()
endfunction()

# The .cpp files in `dir`, sorted, as one string.
function(cpp_files dir out_var)
  file(GLOB files RELATIVE "${dir}" "${dir}/*.cpp")
  list(SORT files)
  string(REPLACE ";" " " files "${files}")
  set(${out_var} "${files}" PARENT_SCOPE)
endfunction()

function(expect_equal what actual expected)
  if(NOT actual STREQUAL expected)
    message(FATAL_ERROR "${what}: expected '${expected}', got '${actual}'")
  endif()
endfunction()

if(CASE STREQUAL "missing_idl")
  expect_configure_error("thriftpool_add_thrift\\(shop_idl\\): IDL file '[^']*idl/no_such.thrift' not found")
elseif(CASE STREQUAL "missing_compiler")
  expect_configure_error("the Thrift compiler was not found \\(THRIFT_COMPILER=.*/no/such/thrift"
                         -DTHRIFT_COMPILER=/no/such/thrift)
elseif(CASE STREQUAL "duplicate")
  expect_configure_error("'shop_types.h' would be generated twice")
elseif(CASE STREQUAL "build")
  configure()
  expect_success(configure)
  run(build "${CMAKE_COMMAND}" --build "${build}" -j2)
  expect_success(build)
  run(main "${build}/main")
  expect_success(main)
  expect_equal("main's output" "${out}"
               "generated code OK: pen 42 service InAString { void f() } // not a comment\n")
  # Exactly what thrift wrote is compiled: nothing listed that it did not write (the build would
  # have failed), nothing written that is not listed (checked here).
  cpp_files("${build}/shop_idl/gen-cpp" written)
  expect_equal("shop_idl's files" "${written}"
               "Basket.cpp Catalog.cpp common_types.cpp shop_constants.cpp shop_types.cpp")
  cpp_files("${build}/ping-gen" written)
  expect_equal("ping_idl's files (plain --gen cpp)" "${written}" "Ping.cpp Ping_server.skeleton.cpp")

  expect_no_generation("build again")

  # A service added to the IDL: the build configures again and compiles its code into the target.
  file(APPEND "${WORK}/src/idl/shop.thrift" "service Till {\n  i64 total(),\n}\n")
  run("build after adding a service" "${CMAKE_COMMAND}" --build "${build}" -j2)
  expect_success("build after adding a service")
  if(NOT out MATCHES "Till.cpp.o")
    message(FATAL_ERROR "the new service's Till.cpp was not compiled:\n${out}")
  endif()
  # thrift rewrites only the files whose content changed; the others must not stay older than
  # the IDL, or every build would run it again.
  expect_no_generation("build after that")
else()
  message(FATAL_ERROR "unknown CASE '${CASE}'")
endif()
