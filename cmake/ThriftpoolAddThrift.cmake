# thriftpool_add_thrift: a library target holding the C++ that the Thrift compiler generates from
# your IDL files, generated at build time into the build tree.
#
#   thriftpool_add_thrift(<target> <idl>...
#                         [STATIC | SHARED | OBJECT]
#                         [GENERATOR_OPTIONS <option>...]
#                         [OUTPUT_DIR <dir>]
#                         [INCLUDE_DIRS <dir>...])
#
# <idl>...           The .thrift files to generate code for (relative to the current source dir).
#                    Code is generated for these files only, not for the files they `include`: list
#                    those too, or link a target that generates them.
# STATIC|SHARED|OBJECT  The library type; without one, add_library's default (BUILD_SHARED_LIBS).
# GENERATOR_OPTIONS  Options of `thrift --gen cpp:<options>`; default moveable_types no_skeleton.
#                    GENERATOR_OPTIONS with no value means plain `--gen cpp`. The file set is the
#                    same for every option that leaves the .cpp set alone (templates only adds .tcc
#                    headers, a skeleton is written but never compiled).
# OUTPUT_DIR         Where the code goes; default ${CMAKE_CURRENT_BINARY_DIR}/<target>/gen-cpp.
# INCLUDE_DIRS       Searched (thrift -I) for `include "x.thrift"` statements that are not next to
#                    the including file; included files also become dependencies of the generation.
#
# The target links PkgConfig::THRIFT (created here from thrift.pc when missing), needs C++11, and
# has OUTPUT_DIR as its PUBLIC include dir (build tree only), so `#include "MyService.h"` works
# in whatever links it. The generated files are known before thrift runs: <Service>.{h,cpp} per
# `service`, <file>_types.h always, <file>_types.cpp when the file declares an enum, struct,
# union or exception, <file>_constants.{h,cpp} when it declares a const (Thrift 0.17's rules).
# CMake re-runs its configure step when an IDL changes, so that list follows the IDL.
#
# The compiler is the cache variable THRIFT_COMPILER (found on PATH; set it to choose another).
# Errors, at configure time: a missing IDL, a missing compiler, two IDLs that would write the same
# file, an unknown argument.

include_guard(GLOBAL)

# A compiler whose version differs from libthrift's writes code that may not compile against it.
function(_thriftpool_check_thrift_compiler)
  if(NOT THRIFT_COMPILER)
    find_program(THRIFT_COMPILER thrift DOC "The Thrift compiler used by thriftpool_add_thrift")
  endif()
  if(NOT THRIFT_COMPILER OR NOT EXISTS "${THRIFT_COMPILER}")
    message(FATAL_ERROR
      "thriftpool_add_thrift: the Thrift compiler was not found (THRIFT_COMPILER="
      "'${THRIFT_COMPILER}'). Install it (Debian: apt-get install thrift-compiler) or pass "
      "-DTHRIFT_COMPILER=/path/to/thrift.")
  endif()
  if(NOT _THRIFTPOOL_CHECKED_COMPILER STREQUAL THRIFT_COMPILER)
    execute_process(COMMAND "${THRIFT_COMPILER}" --version
                    OUTPUT_VARIABLE out ERROR_VARIABLE out RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0 OR NOT out MATCHES "Thrift version ([0-9.]+)")
      message(FATAL_ERROR "thriftpool_add_thrift: '${THRIFT_COMPILER} --version' failed: ${out}")
    endif()
    set(_THRIFTPOOL_COMPILER_VERSION "${CMAKE_MATCH_1}" CACHE INTERNAL "")
    set(_THRIFTPOOL_CHECKED_COMPILER "${THRIFT_COMPILER}" CACHE INTERNAL "")
  endif()
  if(THRIFT_VERSION AND NOT THRIFT_VERSION VERSION_EQUAL _THRIFTPOOL_COMPILER_VERSION)
    message(WARNING "thriftpool_add_thrift: ${THRIFT_COMPILER} is Thrift "
                    "${_THRIFTPOOL_COMPILER_VERSION} but libthrift is ${THRIFT_VERSION}")
  endif()
endfunction()

# The IDL text with comments and string literals removed (so that neither can declare anything).
function(_thriftpool_idl_declarations idl out_var)
  file(READ "${idl}" text)
  string(REGEX REPLACE "\"[^\"\n]*\"|'[^'\n]*'" "\"\"" text "${text}")
  while(TRUE)
    string(FIND "${text}" "/*" open)
    if(open EQUAL -1)
      break()
    endif()
    string(SUBSTRING "${text}" 0 ${open} head)
    math(EXPR open "${open} + 2")
    string(SUBSTRING "${text}" ${open} -1 tail)
    string(FIND "${tail}" "*/" close)
    if(close EQUAL -1)
      set(tail "")
    else()
      math(EXPR close "${close} + 2")
      string(SUBSTRING "${tail}" ${close} -1 tail)
    endif()
    set(text "${head} ${tail}")
  endwhile()
  string(REGEX REPLACE "(//|#)[^\n]*" "" text "${text}")
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

# The files that `thrift --gen cpp` writes for `idl` (names only), following Thrift 0.17.
function(_thriftpool_generated_names idl out_var)
  _thriftpool_idl_declarations("${idl}" text)
  # Thrift names the file's outputs after its base name with dots made underscores.
  get_filename_component(program "${idl}" NAME)
  string(REGEX REPLACE "\\.thrift$" "" program "${program}")
  string(REPLACE "." "_" program "${program}")
  set(names "${program}_types.h")
  set(word_start "(^|[^A-Za-z0-9_.])")
  if(text MATCHES "${word_start}(enum|struct|union|exception)[ \t\r\n]")
    list(APPEND names "${program}_types.cpp")
  endif()
  if(text MATCHES "${word_start}const[ \t\r\n]")
    list(APPEND names "${program}_constants.h" "${program}_constants.cpp")
  endif()
  string(REGEX MATCHALL "${word_start}service[ \t\r\n]+[A-Za-z_][A-Za-z0-9_]*" services "${text}")
  foreach(match IN LISTS services)
    string(REGEX REPLACE ".*service[ \t\r\n]+" "" service "${match}")
    list(APPEND names "${service}.h" "${service}.cpp")
  endforeach()
  set(${out_var} "${names}" PARENT_SCOPE)
endfunction()

# The IDL files that `idl` includes, directly or not, as thrift resolves them (next to the
# including file first, then the -I dirs); unresolved ones are left to thrift to report.
function(_thriftpool_included_idls idl include_dirs out_var)
  set(found "")
  set(pending "${idl}")
  while(pending)
    list(POP_FRONT pending current)
    file(READ "${current}" text)
    string(REGEX MATCHALL "(^|[^A-Za-z0-9_.])include[ \t\r\n]+\"[^\"]+\"" includes "${text}")
    get_filename_component(current_dir "${current}" DIRECTORY)
    foreach(match IN LISTS includes)
      string(REGEX REPLACE ".*\"([^\"]+)\"" "\\1" name "${match}")
      foreach(dir IN LISTS current_dir include_dirs)
        get_filename_component(candidate "${name}" ABSOLUTE BASE_DIR "${dir}")
        if(EXISTS "${candidate}")
          if(NOT candidate IN_LIST found)
            list(APPEND found "${candidate}")
            list(APPEND pending "${candidate}")
          endif()
          break()
        endif()
      endforeach()
    endforeach()
  endwhile()
  set(${out_var} "${found}" PARENT_SCOPE)
endfunction()

function(thriftpool_add_thrift target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "STATIC;SHARED;OBJECT" "OUTPUT_DIR"
                        "GENERATOR_OPTIONS;INCLUDE_DIRS")
  set(idls ${arg_UNPARSED_ARGUMENTS})
  if(NOT idls)
    message(FATAL_ERROR "thriftpool_add_thrift(${target}): no IDL files given")
  endif()
  set(type "")
  foreach(t STATIC SHARED OBJECT)
    if(arg_${t})
      list(APPEND type ${t})
    endif()
  endforeach()
  list(LENGTH type type_count)
  if(type_count GREATER 1)
    message(FATAL_ERROR "thriftpool_add_thrift(${target}): give one of STATIC, SHARED, OBJECT")
  endif()
  if("GENERATOR_OPTIONS" IN_LIST arg_KEYWORDS_MISSING_VALUES)
    set(generator "cpp")
  elseif(DEFINED arg_GENERATOR_OPTIONS)
    string(REPLACE ";" "," options "${arg_GENERATOR_OPTIONS}")
    set(generator "cpp:${options}")
  else()
    set(generator "cpp:moveable_types,no_skeleton")
  endif()
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}/gen-cpp")
  if(arg_OUTPUT_DIR)
    get_filename_component(out "${arg_OUTPUT_DIR}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  set(include_dirs "")
  set(include_flags "")
  foreach(dir IN LISTS arg_INCLUDE_DIRS)
    get_filename_component(dir "${dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND include_dirs "${dir}")
    list(APPEND include_flags -I "${dir}")
  endforeach()

  if(NOT TARGET PkgConfig::THRIFT)
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(THRIFT REQUIRED IMPORTED_TARGET thrift>=0.17)
  endif()
  _thriftpool_check_thrift_compiler()

  set(sources "")
  foreach(idl IN LISTS idls)
    get_filename_component(idl "${idl}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    if(NOT EXISTS "${idl}" OR IS_DIRECTORY "${idl}")
      message(FATAL_ERROR "thriftpool_add_thrift(${target}): IDL file '${idl}' not found")
    endif()
    # A changed IDL may declare other services: configure again to list the new outputs.
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${idl}")
    _thriftpool_generated_names("${idl}" names)
    set(outputs "")
    foreach(name IN LISTS names)
      if("${out}/${name}" IN_LIST sources)
        message(FATAL_ERROR "thriftpool_add_thrift(${target}): '${name}' would be generated "
                            "twice (from ${idl} and an earlier IDL): rename a file or service")
      endif()
      list(APPEND outputs "${out}/${name}")
    endforeach()
    list(APPEND sources ${outputs})
    _thriftpool_included_idls("${idl}" "${include_dirs}" included)
    get_filename_component(idl_name "${idl}" NAME)
    # thrift leaves a file alone when its content is unchanged: touch them all, so that none is
    # older than the IDL and the step does not run again on every build.
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${out}"
      COMMAND "${THRIFT_COMPILER}" --gen "${generator}" ${include_flags} -out "${out}" "${idl}"
      COMMAND "${CMAKE_COMMAND}" -E touch_nocreate ${outputs}
      DEPENDS "${idl}" ${included} "${THRIFT_COMPILER}"
      COMMENT "thrift: generating C++ from ${idl_name} for ${target}"
      VERBATIM)
  endforeach()

  add_library(${target} ${type} ${sources})
  target_include_directories(${target} PUBLIC "$<BUILD_INTERFACE:${out}>")
  target_link_libraries(${target} PUBLIC PkgConfig::THRIFT)
  target_compile_features(${target} PUBLIC cxx_std_11)
  # Generated code is not the user's to warn about.
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU,Clang,AppleClang>:-w>)
endfunction()
