# find_package(descent): imported targets descent::descent_shared and descent::descent_static.
include(CMakeFindDependencyMacro)
find_dependency(OpenMP)
find_dependency(ZLIB)
find_dependency(PkgConfig)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
include("${CMAKE_CURRENT_LIST_DIR}/descentTargets.cmake")
