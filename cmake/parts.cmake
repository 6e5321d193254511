# One CMake target per part (CONTRIBUTING.md "Parts and layering").
#
#   psmflow_part(NAME [NEEDS part...] [SOURCES file...] [TORCH_SOURCES file...] [LIBS target...] [TORCH_LIBS target...])
#
# declares part NAME, whose sources live in src/NAME/ and whose public headers live in
# include/psmflow/NAME/. Parts are declared bottom-up: NEEDS may name only parts declared before,
# so the declaration order in src/CMakeLists.txt is the layering. SOURCES (no LibTorch) become the
# object library psmflow_NAME, which goes into libpsmflow.so; TORCH_SOURCES become psmflow_NAME_torch,
# which goes into the plugin libpsmflow_torch.so. src/NAME/ is a PRIVATE include path: a part's
# private headers ("h5_util.hpp") are out of every other part's reach. Before a part compiles, its
# sources and public headers are checked: an #include "psmflow/OTHER/..." of a part that NAME does
# not need (directly or through its NEEDS) fails the build, naming the file, the line and the edge.

set(PSMFLOW_PARTS "" CACHE INTERNAL "parts in layering order")

# Sets OUT to NAME's part and every part it needs, directly or transitively.
function(psmflow_part_closure name out)
  set(result ${name})
  foreach(dep ${PSMFLOW_PART_${name}_NEEDS})
    psmflow_part_closure(${dep} sub)
    list(APPEND result ${sub})
  endforeach()
  list(REMOVE_DUPLICATES result)
  set(${out} ${result} PARENT_SCOPE)
endfunction()

function(psmflow_part_object target name needs)
  add_library(${target} OBJECT)
  target_include_directories(${target} PUBLIC ${CMAKE_SOURCE_DIR}/include ${HDF5_INCLUDE_DIRS}
    PRIVATE ${CMAKE_SOURCE_DIR}/src/${name})
  target_compile_options(${target} PRIVATE ${PSMFLOW_WARNINGS})
  target_compile_definitions(${target} PUBLIC PSMFLOW_VERSION="${PROJECT_VERSION}" ${HDF5_DEFINITIONS})
  add_dependencies(${target} psmflow_layering_${name})
endfunction()

function(psmflow_part name)
  cmake_parse_arguments(P "" "" "NEEDS;SOURCES;TORCH_SOURCES;LIBS;TORCH_LIBS" ${ARGN})
  foreach(dep ${P_NEEDS})
    if(NOT dep IN_LIST PSMFLOW_PARTS)
      message(FATAL_ERROR "part ${name} needs '${dep}', which is not declared below it (src/CMakeLists.txt order)")
    endif()
  endforeach()
  set(PSMFLOW_PART_${name}_NEEDS ${P_NEEDS} CACHE INTERNAL "")
  set(PSMFLOW_PARTS ${PSMFLOW_PARTS} ${name} CACHE INTERNAL "")
  psmflow_part_closure(${name} allowed)

  set(dir ${CMAKE_SOURCE_DIR}/src/${name})
  list(TRANSFORM P_SOURCES PREPEND ${dir}/)
  list(TRANSFORM P_TORCH_SOURCES PREPEND ${dir}/)
  file(GLOB headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/include/psmflow/${name}/*.hpp ${dir}/*.hpp)
  set(stamp ${CMAKE_BINARY_DIR}/layering/${name}.ok)
  add_custom_command(OUTPUT ${stamp}
    COMMAND Python3::Interpreter ${CMAKE_SOURCE_DIR}/cmake/check_layering.py ${name} "${allowed}"
            "${P_SOURCES};${P_TORCH_SOURCES};${headers}" ${stamp} ${CMAKE_SOURCE_DIR}
    DEPENDS ${P_SOURCES} ${P_TORCH_SOURCES} ${headers} ${CMAKE_SOURCE_DIR}/cmake/check_layering.py
    COMMENT "Checking the includes of part ${name} against its NEEDS (${P_NEEDS})" VERBATIM)
  add_custom_target(psmflow_layering_${name} DEPENDS ${stamp})

  if(P_SOURCES)
    psmflow_part_object(psmflow_${name} ${name} "${P_NEEDS}")
    target_sources(psmflow_${name} PRIVATE ${P_SOURCES})
    foreach(dep ${P_NEEDS})
      if(TARGET psmflow_${dep})
        target_link_libraries(psmflow_${name} PUBLIC psmflow_${dep})
      endif()
    endforeach()
    target_link_libraries(psmflow_${name} PUBLIC ${P_LIBS})
    target_sources(psmflow_so PRIVATE $<TARGET_OBJECTS:psmflow_${name}>)
    target_link_libraries(psmflow_so PUBLIC ${P_LIBS})
  endif()
  if(P_TORCH_SOURCES)
    psmflow_part_object(psmflow_${name}_torch ${name} "${P_NEEDS}")
    target_sources(psmflow_${name}_torch PRIVATE ${P_TORCH_SOURCES})
    foreach(dep ${P_NEEDS} ${name})
      foreach(t psmflow_${dep} psmflow_${dep}_torch)
        if(TARGET ${t} AND NOT t STREQUAL psmflow_${name}_torch)
          target_link_libraries(psmflow_${name}_torch PUBLIC ${t})
        endif()
      endforeach()
    endforeach()
    target_link_libraries(psmflow_${name}_torch PUBLIC ${TORCH_LIBRARIES} ${P_LIBS} ${P_TORCH_LIBS})
    psmflow_torch_pch(psmflow_${name}_torch)
    target_sources(psmflow_torch PRIVATE $<TARGET_OBJECTS:psmflow_${name}_torch>)
    target_link_libraries(psmflow_torch PUBLIC ${P_TORCH_LIBS})
  endif()
endfunction()

# LibTorch's headers cost ~15 s a translation unit: every torch part shares one precompiled header.
function(psmflow_torch_pch target)
  get_property(first GLOBAL PROPERTY PSMFLOW_TORCH_PCH_OWNER)
  if(first)
    target_precompile_headers(${target} REUSE_FROM ${first})
  else()
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
    set_property(GLOBAL PROPERTY PSMFLOW_TORCH_PCH_OWNER ${target})
  endif()
endfunction()
