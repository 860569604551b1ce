// The part of the officepulse GNOME Shell extension that is the same for every shell version.
// The installer (officepulse/agent/gnome_setup.py) puts it into extension-legacy.js (GNOME
// 43-44, imports.gi) or extension-esm.js (GNOME 45 and later, ES modules), which give it Gio,
// GLib and Shell. Only public Mutter/Shell calls that exist from 43 on are used here.

const OBJECT_PATH = '/org/officepulse/FocusedWindow';
const INTERFACE_XML = `
<node>
  <interface name="org.officepulse.FocusedWindow">
    <method name="Get">
      <arg type="s" direction="out" name="window"/>
    </method>
    <signal name="Changed">
      <arg type="s" name="window"/>
    </signal>
    <property name="Version" type="u" access="read"/>
  </interface>
</node>`;
const VERSION = 1;

// The focused window as JSON: what the agent reads. "{}" when nothing has the focus.
function describeWindow(window) {
    if (!window)
        return '{}';
    // The .desktop id when the shell matched the window to an app; "window:N" ids of
    // windows it could not match say nothing, so they are left out.
    const app = Shell.WindowTracker.get_default().get_window_app(window);
    const appId = app && !app.is_window_backed() ? app.get_id() : '';
    return JSON.stringify({
        title: window.get_title() || '',
        wm_class: window.get_wm_class() || '',
        wm_class_instance: window.get_wm_class_instance() || '',
        app_id: appId || window.get_sandboxed_app_id() || '',
        pid: window.get_pid(),
    });
}

class FocusReporter {
    enable() {
        this._window = null;
        this._titleHandler = 0;
        this._dbus = Gio.DBusExportedObject.wrapJSObject(INTERFACE_XML, this);
        this._dbus.export(Gio.DBus.session, OBJECT_PATH);
        this._focusHandler = global.display.connect('notify::focus-window', () => this._follow());
        this._follow();
    }

    disable() {
        global.display.disconnect(this._focusHandler);
        this._focusHandler = 0;
        this._unfollow();
        this._dbus.flush();
        this._dbus.unexport();
        this._dbus = null;
    }

    // org.officepulse.FocusedWindow.Get
    Get() {
        return describeWindow(global.display.focus_window);
    }

    get Version() {
        return VERSION;
    }

    _follow() {
        this._unfollow();
        this._window = global.display.focus_window;
        if (this._window)
            this._titleHandler = this._window.connect('notify::title', () => this._changed());
        this._changed();
    }

    _unfollow() {
        if (this._window && this._titleHandler)
            this._window.disconnect(this._titleHandler);
        this._window = null;
        this._titleHandler = 0;
    }

    _changed() {
        this._dbus.emit_signal('Changed', new GLib.Variant('(s)', [this.Get()]));
    }
}
