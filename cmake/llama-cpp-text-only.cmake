# Included before llama.cpp's own project() call while llama-cpp-python's wheel is built
# (CMAKE_PROJECT_llama.cpp_INCLUDE_BEFORE, set by the Makefile's LLAMA_CMAKE_ARGS).
#
# llama-cpp-python forces LLAMA_BUILD_COMMON on for its multimodal library (mtmd), which tunesafe
# does not build (LLAVA_BUILD=OFF). The Python package loads only libllama and the ggml libraries,
# so llama.cpp's common library (argument parsing, chat and JSON-schema helpers for its own tools)
# is left out: about half of the build's compile time on 2 cores.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama.cpp: build the common library (unused by the Python package)" FORCE)

# No AMX kernels. With GGML_NATIVE (the default for a build from source) -march=native turns on
# ggml-cpu's AMX-INT8 path (ggml/src/ggml-cpu/amx) on CPUs that have AMX (Intel Xeon 4th gen and
# later). GCC up to at least 12 miscompiles it: its _tile_loadconfig() tells the compiler that
# ldtilecfg reads 8 bytes (an "m" operand of type const void *), not the 64-byte tile
# configuration, so the stores of the tile rows and columns are removed as dead and ldtilecfg
# raises #GP on an invalid configuration. Every prompt of more than a few tokens then segfaults in
# ggml_backend_amx_mul_mat() inside llama_decode(). The AVX-512/AVX2 kernels are used instead.
# Explicit -mno-* flags win over -march=native whatever their order; -mno-amx-tile alone does not
# turn off AMX-INT8 or AMX-BF16 in GCC.
if (CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|x64|i[3-6]86)$"
        AND CMAKE_C_COMPILER_ID MATCHES "GNU|Clang" AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:-mno-amx-tile;-mno-amx-int8;-mno-amx-bf16>")
endif()
foreach (feature GGML_AMX_TILE GGML_AMX_INT8 GGML_AMX_BF16)
    set(${feature} OFF CACHE BOOL "ggml: AMX kernels (left out by tunesafe, see cmake/llama-cpp-text-only.cmake)" FORCE)
endforeach()
