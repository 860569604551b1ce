// Test only. GNOME Shell 43 loads extensions as imports.gi scripts; 45 and later load them
// as ES modules, with their base class at resource:///org/gnome/shell/extensions/extension.js.
// This extension lets GNOME Shell 43 run a 45+ extension as 45 would: it registers a
// resource holding a stand-in for that base class (stand-in/extension.js, compiled by the
// test into stand-in.gresource), imports the ES module named in the file `target` (the
// folder of the extension, as installed) with GJS's own module loader, constructs its
// default export with its metadata and enables it; disabling this disables that.
'use strict';

const {Gio, GLib} = imports.gi;
const ExtensionUtils = imports.misc.extensionUtils;

let registered = false;

function readText(file) {
    const [, bytes] = file.load_contents(null);
    return new TextDecoder().decode(bytes);
}

class Loader {
    enable() {
        const me = ExtensionUtils.getCurrentExtension();
        if (!registered) {
            Gio.Resource.load(me.dir.get_child('stand-in.gresource').get_path())._register();
            registered = true;
        }
        const folder = Gio.File.new_for_path(readText(me.dir.get_child('target')).trim());
        const metadata = JSON.parse(readText(folder.get_child('metadata.json')));
        metadata.path = folder.get_path();
        const loading = {cancelled: false};
        this._loading = loading;
        import(folder.get_child('extension.js').get_uri()).then(module => {
            if (loading.cancelled)
                return;
            this._extension = new module.default(metadata);
            this._extension.enable();
            log(`officepulse tests: enabled the ES module extension ${metadata.uuid}`);
        }).catch(e => logError(e, `officepulse tests: cannot run ${folder.get_path()}`));
    }

    disable() {
        this._loading.cancelled = true;
        if (this._extension) {
            this._extension.disable();
            this._extension = null;
        }
    }
}

/* exported init */
function init() {
    return new Loader();
}
