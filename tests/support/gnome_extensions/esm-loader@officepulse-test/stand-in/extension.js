// Test only: a stand-in for GNOME Shell 45's resource:///org/gnome/shell/extensions/extension.js,
// with what an extension's default export relies on there: the class Extension, constructed
// with the extension's metadata, which it keeps with its uuid and folder; enable() and
// disable() are the extension's own.
import Gio from 'gi://Gio';

export class Extension {
    constructor(metadata) {
        this.metadata = metadata;
        this.uuid = metadata.uuid;
        this.path = metadata.path;
        this.dir = Gio.File.new_for_path(metadata.path);
    }

    enable() {
    }

    disable() {
    }
}
