# Run at every build (cmake -P): writes OUT with the source tree's commit, touching it only when
# the commit changes, so `psmflow --version` names the commit it was built from without
# recompiling anything when nothing changed. Outside a git checkout the commit is "unknown".
execute_process(COMMAND git -C ${SOURCE_DIR} describe --always --dirty --abbrev=12
  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit unknown)
endif()
set(text "// Generated at build time by cmake/git_commit.cmake.\n#pragma once\n#define PSMFLOW_GIT_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()
