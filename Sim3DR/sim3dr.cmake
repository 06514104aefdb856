# Sim3DR: build the faceverse_ros._sim3dr Python extension with CMake.
#
# include() this file from the package's top-level CMakeLists.txt after
#   find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module)
# and after PYTHON_INSTALL_DIR is defined (ament_cmake_python does that).
# It cythonizes Sim3DR/_sim3dr.pyx to C++ with the found interpreter's Cython
# (`python -m cython`, a build requirement like for setup.py), compiles it
# with Sim3DR/rasterize.cpp into the module `_sim3dr` (ABI-tagged file name)
# and installs it to ${PYTHON_INSTALL_DIR}/faceverse_ros/.
# The module uses no NumPy C API, so NumPy headers are not needed.
# CMake >= 3.18 (Python3_add_library ... WITH_SOABI).

set(SIM3DR_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}")
set(SIM3DR_GENERATED "${CMAKE_CURRENT_BINARY_DIR}/sim3dr/_sim3dr.cpp")

if(NOT Python3_EXECUTABLE)
  message(FATAL_ERROR "sim3dr.cmake: call find_package(Python3 COMPONENTS "
                      "Interpreter Development.Module) before including it")
endif()
if(NOT DEFINED PYTHON_INSTALL_DIR)
  # Same layout as ament_cmake_python's default.
  set(PYTHON_INSTALL_DIR
      "lib/python${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}/site-packages")
  message(STATUS "sim3dr.cmake: PYTHON_INSTALL_DIR not set, using ${PYTHON_INSTALL_DIR}")
endif()

execute_process(
  COMMAND "${Python3_EXECUTABLE}" -m cython --version
  RESULT_VARIABLE _sim3dr_cython_missing
  OUTPUT_QUIET ERROR_QUIET)
if(_sim3dr_cython_missing)
  message(FATAL_ERROR "sim3dr.cmake: Cython is not installed for ${Python3_EXECUTABLE} "
                      "(pip install cython)")
endif()

add_custom_command(
  OUTPUT "${SIM3DR_GENERATED}"
  COMMAND "${CMAKE_COMMAND}" -E make_directory "${CMAKE_CURRENT_BINARY_DIR}/sim3dr"
  COMMAND "${Python3_EXECUTABLE}" -m cython --cplus -3
          -I "${SIM3DR_SOURCE_DIR}"
          -o "${SIM3DR_GENERATED}" "${SIM3DR_SOURCE_DIR}/_sim3dr.pyx"
  DEPENDS "${SIM3DR_SOURCE_DIR}/_sim3dr.pyx" "${SIM3DR_SOURCE_DIR}/rasterize.h"
  COMMENT "Cythonizing Sim3DR/_sim3dr.pyx"
  VERBATIM)

Python3_add_library(_sim3dr MODULE WITH_SOABI
  "${SIM3DR_GENERATED}"
  "${SIM3DR_SOURCE_DIR}/rasterize.cpp")
target_include_directories(_sim3dr PRIVATE "${SIM3DR_SOURCE_DIR}")
target_compile_features(_sim3dr PRIVATE cxx_std_17)
set_target_properties(_sim3dr PROPERTIES
  CXX_EXTENSIONS OFF
  CXX_VISIBILITY_PRESET hidden)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  # Optimised even in a default (no CMAKE_BUILD_TYPE) colcon build.
  target_compile_options(_sim3dr PRIVATE -O3 -fno-math-errno)
elseif(MSVC)
  target_compile_options(_sim3dr PRIVATE /O2)
endif()

install(TARGETS _sim3dr
  LIBRARY DESTINATION "${PYTHON_INSTALL_DIR}/faceverse_ros"
  RUNTIME DESTINATION "${PYTHON_INSTALL_DIR}/faceverse_ros")
