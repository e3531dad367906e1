{
  "targets": [
    {
      "target_name": "bindtodevice",
      "sources": ["native/bindtodevice.c"]
    }
  ]
}
