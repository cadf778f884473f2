# Install rules, included last by the top-level CMakeLists.txt (the targets live in the
# subdirectories). `cmake --install build --prefix P` puts in place:
#   bin/          ringserved, ringctl, ringserve-http, ringserve-bench, ringserve-make-model
#   lib/          libringserve_client.so (+ SONAME links), cmake/ringserve/ (find_package
#                 config: ringserve::client; the build tree has the same files in cmake/,
#                 for -Dringserve_DIR=<build>/cmake), pkgconfig/ringserve.pc, systemd/system/
#                 ringserved@.service, sysusers.d/ringserve.conf
#   include/      ringserve/client.h, ringserve/ringserve.h
#   share/ringserve/  ringserve.example.toml, models/builtin (the default model)
#   lib/python3/dist-packages/ringserve/  the Python client (RINGSERVE_PYTHON_DIR)
# Components: "runtime" (programs, library, model, service files), "development" (headers,
# the .so link, CMake and pkg-config files) and "python" (the Python package), for packagers
# that split them.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RINGSERVE_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit goes: relative to the install prefix, or absolute")
set(RINGSERVE_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING
    "Where the sysusers.d file for the ringserve user goes: relative to the prefix, or absolute")

set(ringserve_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/ringserve")
set(ringserve_data_dir "${CMAKE_INSTALL_DATADIR}/ringserve")

# The installed programs find the installed built-in model relative to themselves (see
# engine/model/builtin_model.h); the path is derived from the same directories it is installed
# to, so the two cannot drift apart.
file(RELATIVE_PATH ringserve_model_reldir "${CMAKE_INSTALL_FULL_BINDIR}"
     "${CMAKE_INSTALL_FULL_DATADIR}/ringserve/models/builtin")
file(RELATIVE_PATH ringserve_lib_reldir "${CMAKE_INSTALL_FULL_BINDIR}"
     "${CMAKE_INSTALL_FULL_LIBDIR}")
foreach(program ringserved ringctl)
  target_compile_definitions(${program} PRIVATE
    RINGSERVE_BUILTIN_MODEL_RELDIR="${ringserve_model_reldir}")
endforeach()

# The programs that link the client library find it in the installed lib/ however the prefix
# is moved; the link path (e.g. a libtorch outside the system directories) is kept.
set_target_properties(ringctl ringserve-http ringserve-bench PROPERTIES
  INSTALL_RPATH "$ORIGIN/${ringserve_lib_reldir}")
set_target_properties(ringserved ringctl ringserve-http ringserve-bench ringserve-make-model
  PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
install(TARGETS ringserved ringctl ringserve-http ringserve-bench ringserve-make-model
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

# ringserve::client. client-lib/ gives its include directory as a source path, which only
# makes sense in the build tree: keep it for the build, and let the installed target point at
# the installed headers (INCLUDES DESTINATION below).
set_target_properties(ringserve_client PROPERTIES EXPORT_NAME client)
get_target_property(ringserve_client_includes ringserve_client INTERFACE_INCLUDE_DIRECTORIES)
set(ringserve_build_includes "")
foreach(dir IN LISTS ringserve_client_includes)
  if(dir MATCHES "^\\$<")
    list(APPEND ringserve_build_includes "${dir}")
  else()
    list(APPEND ringserve_build_includes "$<BUILD_INTERFACE:${dir}>")
  endif()
endforeach()
set_property(TARGET ringserve_client PROPERTY INTERFACE_INCLUDE_DIRECTORIES
  "${ringserve_build_includes}")
install(TARGETS ringserve_client EXPORT ringserveTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
    NAMELINK_COMPONENT development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/client-lib/include/ringserve
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
  FILES_MATCHING PATTERN "*.h")

install(EXPORT ringserveTargets NAMESPACE ringserve:: DESTINATION ${ringserve_cmake_dir}
  COMPONENT development)
# The build tree is a package too: `-Dringserve_DIR=<build>/cmake` finds ringserve::client
# there (this build's library, the source tree's headers) beside the two files below, for a
# service built against a checkout that was never installed.
export(EXPORT ringserveTargets NAMESPACE ringserve::
  FILE ${CMAKE_BINARY_DIR}/cmake/ringserveTargets.cmake)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ringserveConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/ringserveConfig.cmake INSTALL_DESTINATION ${ringserve_cmake_dir})
# The SONAME carries the major version (libringserve_client.so.0), so the package promises
# what the SONAME does.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/ringserveConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/ringserveConfig.cmake
              ${CMAKE_BINARY_DIR}/cmake/ringserveConfigVersion.cmake
  DESTINATION ${ringserve_cmake_dir} COMPONENT development)

# Files that name installed paths are configured at install time, because
# `cmake --install --prefix P` chooses the prefix after configuration.
function(ringserve_install_configured template destination component)
  get_filename_component(name "${template}" NAME)
  string(REGEX REPLACE "\\.in$" "" name "${name}")
  install(CODE "
    set(_rs_template \"${template}\")
    set(_rs_name \"${name}\")
    set(_rs_destination \"${destination}\")
    set(_rs_stage \"${CMAKE_BINARY_DIR}/install-configured\")
    set(_rs_version \"${PROJECT_VERSION}\")
    set(_rs_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
    set(_rs_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
    set(_rs_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
    set(_rs_DATADIR \"${CMAKE_INSTALL_DATADIR}\")
    include(\"${CMAKE_CURRENT_FUNCTION_LIST_DIR}/configure_at_install.cmake\")"
    COMPONENT ${component})
endfunction()
ringserve_install_configured(${CMAKE_CURRENT_LIST_DIR}/ringserve.pc.in
  "${CMAKE_INSTALL_LIBDIR}/pkgconfig" development)
ringserve_install_configured(${PROJECT_SOURCE_DIR}/packaging/systemd/ringserved@.service.in
  "${RINGSERVE_SYSTEMD_UNIT_DIR}" runtime)
ringserve_install_configured(${PROJECT_SOURCE_DIR}/packaging/systemd/ringserve-http@.service.in
  "${RINGSERVE_SYSTEMD_UNIT_DIR}" runtime)
# The gateway's unit names it as its documentation.
install(FILES ${PROJECT_SOURCE_DIR}/docs/HTTP.md
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/ringserve COMPONENT runtime)
# The Python client (client-lib/python/ringserve, pure Python on the C ABI): where Debian's
# python3 finds it for the prefix /usr; for another prefix P, PYTHONPATH=P/lib/python3/
# dist-packages (README, "Install"). _install_layout.py tells the package where the library
# went, so it loads the installed one without RINGSERVE_LIB or ldconfig.
set(RINGSERVE_PYTHON_DIR "lib/python3/dist-packages" CACHE STRING
    "Where the Python package ringserve goes: relative to the install prefix, or absolute")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/client-lib/python/ringserve
  DESTINATION ${RINGSERVE_PYTHON_DIR} COMPONENT python
  FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
ringserve_install_configured(${CMAKE_CURRENT_LIST_DIR}/_install_layout.py.in
  "${RINGSERVE_PYTHON_DIR}/ringserve" python)

install(FILES ${PROJECT_SOURCE_DIR}/packaging/sysusers.d/ringserve.conf
  DESTINATION ${RINGSERVE_SYSUSERS_DIR} COMPONENT runtime)

install(FILES ${PROJECT_SOURCE_DIR}/config/ringserve.example.toml
  DESTINATION ${ringserve_data_dir} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/builtin
  DESTINATION ${ringserve_data_dir}/models COMPONENT runtime)
