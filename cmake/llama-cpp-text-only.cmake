# Included before llama.cpp's own project() call while llama-cpp-python's wheel is built
# (CMAKE_PROJECT_llama.cpp_INCLUDE_BEFORE, set by the Makefile's LLAMA_CMAKE_ARGS).
#
# llama-cpp-python forces LLAMA_BUILD_COMMON on for its multimodal library (mtmd), which tunesafe
# does not build (LLAVA_BUILD=OFF). The Python package loads only libllama and the ggml libraries,
# so llama.cpp's common library (argument parsing, chat and JSON-schema helpers for its own tools)
# is left out: about half of the build's compile time on 2 cores.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama.cpp: build the common library (unused by the Python package)" FORCE)
