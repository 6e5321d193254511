-- Lmod modulefile for an installed psmflow; cmake --install puts it in
-- PREFIX/share/modulefiles/psmflow/VERSION.lua. It finds PREFIX from its own location, so a
-- moved prefix needs no edit: `module use PREFIX/share/modulefiles && module load psmflow`.
-- On a cluster whose MPI, HDF5 or LibTorch come from modules, add their depends_on() lines here.
local prefix = myFileName():match("^(.*)/share/modulefiles/[^/]+/[^/]+%.lua$")
whatis("Name: psmflow")
whatis("Version: " .. myModuleVersion())
whatis("Description: facial videos to Person-Specific Models, a General Model and one report")
help([[
psmflow: `psmflow help` lists the commands; `psmflow --version` names the build.
Sets PATH and PSMFLOW_ROOT (the install prefix).]])
setenv("PSMFLOW_ROOT", prefix)
prepend_path("PATH", pathJoin(prefix, "bin"))
