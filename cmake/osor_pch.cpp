// The translation unit of osor_pch, the target that owns the one precompiled header (cmake/OsorTorchTarget.cmake).
// It holds nothing: a target whose source list never changes keeps the header's .gch (and with it every compile
// that ccache cached against it) valid when files are added to or removed from the other targets.
