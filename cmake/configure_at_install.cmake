# Run by `cmake --install` (see ringserve_install_configured in install.cmake): configures
# one template with the prefix being installed to, which `--prefix` may change after
# configuration, and installs the result. Inputs: _rs_template, _rs_name, _rs_destination,
# _rs_stage, _rs_version and _rs_BINDIR, _rs_LIBDIR, _rs_INCLUDEDIR, _rs_DATADIR (as
# GNUInstallDirs gave them: relative to the prefix, or absolute).
set(RINGSERVE_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(RINGSERVE_VERSION "${_rs_version}")
foreach(dir BINDIR LIBDIR INCLUDEDIR DATADIR)
  if(IS_ABSOLUTE "${_rs_${dir}}")
    set(RINGSERVE_FULL_${dir} "${_rs_${dir}}")
    set(RINGSERVE_PC_${dir} "${_rs_${dir}}")
  else()
    set(RINGSERVE_FULL_${dir} "${CMAKE_INSTALL_PREFIX}/${_rs_${dir}}")
    set(RINGSERVE_PC_${dir} "\${prefix}/${_rs_${dir}}")
  endif()
endforeach()
# One staging directory per prefix, so installs to two prefixes at once do not mix.
string(MD5 _rs_key "${CMAKE_INSTALL_PREFIX}")
configure_file("${_rs_template}" "${_rs_stage}/${_rs_key}/${_rs_name}" @ONLY)
if(IS_ABSOLUTE "${_rs_destination}")
  set(_rs_to "${_rs_destination}")
else()
  set(_rs_to "${CMAKE_INSTALL_PREFIX}/${_rs_destination}")
endif()
# file(INSTALL) adds DESTDIR and records the file in install_manifest.txt.
file(INSTALL DESTINATION "${_rs_to}" TYPE FILE FILES "${_rs_stage}/${_rs_key}/${_rs_name}")
