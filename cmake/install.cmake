# Install layout (include/psmflow/core/install.hpp finds everything relative to libpsmflow.so):
#   PREFIX/bin/psmflow
#   PREFIX/lib/psmflow/libpsmflow.so, libpsmflow_torch.so   (private libraries, off the linker's path)
#   PREFIX/share/psmflow/{slurm,configs,jobs}
#   PREFIX/share/modulefiles/psmflow/VERSION.lua            (Lmod; `module use PREFIX/share/modulefiles`)
# RPATHs are relative ($ORIGIN), so the prefix can be moved as a whole. A LibTorch outside the
# system's library folders (a CUDA LibTorch on CMAKE_PREFIX_PATH) stays on the RPATH by its absolute path.

set(PSMFLOW_INSTALL_LIBDIR lib/psmflow)
set_target_properties(psmflow PROPERTIES INSTALL_RPATH "$ORIGIN/../${PSMFLOW_INSTALL_LIBDIR}"
  INSTALL_RPATH_USE_LINK_PATH ON)
set_target_properties(psmflow_so psmflow_torch PROPERTIES INSTALL_RPATH "$ORIGIN" INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS psmflow RUNTIME DESTINATION bin)
install(TARGETS psmflow_so psmflow_torch LIBRARY DESTINATION ${PSMFLOW_INSTALL_LIBDIR})
install(DIRECTORY slurm configs jobs DESTINATION share/psmflow USE_SOURCE_PERMISSIONS)
install(FILES tools/psmflow.lua DESTINATION share/modulefiles/psmflow RENAME ${PROJECT_VERSION}.lua)

# The build tree mirrors share/psmflow beside libpsmflow.so with links into the source tree, so
# an uninstalled build finds its data by the same rule and edits to the templates show at once.
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/share/psmflow)
foreach(dir slurm configs jobs)
  file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${dir} ${CMAKE_BINARY_DIR}/share/psmflow/${dir} SYMBOLIC)
endforeach()
