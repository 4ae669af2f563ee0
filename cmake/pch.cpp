// Anchor translation unit for the shared precompiled header (cmake/torch_pch.h).
