# Spar's native addon: the socket calls Node does not expose (getsockopt SO_ORIGINAL_DST).
# Built by node-gyp from `npm install` (see native/build.mjs); loaded by src/proxy/listener/original-dst.ts.
{
  "targets": [
    {
      "target_name": "spar_native",
      "sources": ["src/original_dst.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "conditions": [
        ["OS!='linux'", { "defines": ["SPAR_NO_ORIGINAL_DST"] }]
      ]
    }
  ]
}
