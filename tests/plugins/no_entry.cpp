// A shared library with the plugin file name but no entry symbol.
extern "C" int mproc_test_not_a_plugin() {
    return 42;
}
