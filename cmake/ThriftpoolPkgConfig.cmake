# Writes and installs thriftpool.pc, for projects built without CMake, from
# THRIFTPOOL_INSTALLED_LIBRARIES (the installed library targets, each before the ones it uses).
# The file finds its prefix from its own place (${pcfiledir}), so the package can be installed
# with `cmake --install --prefix` anywhere, or moved.

set(_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
file(RELATIVE_PATH THRIFTPOOL_PC_PREFIX "/root/${_dir}" "/root")
string(REGEX REPLACE "/$" "" THRIFTPOOL_PC_PREFIX "\${pcfiledir}/${THRIFTPOOL_PC_PREFIX}")
foreach(_kind LIBDIR INCLUDEDIR DATADIR)
  set(_path "${CMAKE_INSTALL_${_kind}}")
  if(NOT IS_ABSOLUTE "${_path}")
    set(_path "\${prefix}/${_path}")
  endif()
  set(THRIFTPOOL_PC_${_kind} "${_path}")
endforeach()
set(THRIFTPOOL_PC_IDLDIR "${THRIFTPOOL_PC_DATADIR}/thriftpool/idl")

set(THRIFTPOOL_PC_LIBS "")
set(_static FALSE)
foreach(_lib IN LISTS THRIFTPOOL_INSTALLED_LIBRARIES)
  get_target_property(_name ${_lib} OUTPUT_NAME)
  if(NOT _name)
    set(_name ${_lib})
  endif()
  string(APPEND THRIFTPOOL_PC_LIBS " -l${_name}")
  get_target_property(_type ${_lib} TYPE)
  if(_type STREQUAL "STATIC_LIBRARY")
    set(_static TRUE)
  endif()
endforeach()
string(STRIP "${THRIFTPOOL_PC_LIBS}" THRIFTPOOL_PC_LIBS)
# glog is used inside the libraries only: a static archive needs it on the user's link line.
# libssl, libcrypto: TLS (ClientOptions::tls) calls OpenSSL directly; thrift.pc does not list it.
set(THRIFTPOOL_PC_REQUIRES "thrift >= 0.17, libssl, libcrypto")
set(THRIFTPOOL_PC_REQUIRES_PRIVATE "Requires.private: libglog")
if(_static)
  string(APPEND THRIFTPOOL_PC_REQUIRES ", libglog")
  set(THRIFTPOOL_PC_REQUIRES_PRIVATE "")
endif()

configure_file("${CMAKE_CURRENT_LIST_DIR}/thriftpool.pc.in"
               "${CMAKE_CURRENT_BINARY_DIR}/thriftpool.pc" @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/thriftpool.pc" DESTINATION "${_dir}")
