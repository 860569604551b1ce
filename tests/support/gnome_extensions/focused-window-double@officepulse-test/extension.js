// Test only: the D-Bus interface of the third-party Focused Window D-Bus extension
// (github.com/flexagoon/focused-window-dbus), written for these tests from its documented
// interface: org.gnome.shell.extensions.FocusedWindow on /org/gnome/shell/extensions/FocusedWindow,
// Get() returning the window that has the focus as JSON ("{}" when none), with the fields its
// README shows (tests/data/recorded/sources/gnome/focused-window-get.json), and the signal
// FocusChanged. The agent reads title, wm_class, wm_class_instance and pid; the others are
// there so that it is seen to pass over them.
'use strict';

const {Gio, GLib} = imports.gi;

const INTERFACE_XML = `
<node>
  <interface name="org.gnome.shell.extensions.FocusedWindow">
    <method name="Get">
      <arg type="s" direction="out" name="window"/>
    </method>
    <signal name="FocusChanged">
      <arg type="s" name="window"/>
    </signal>
  </interface>
</node>`;

class FocusedWindow {
    enable() {
        this._dbus = Gio.DBusExportedObject.wrapJSObject(INTERFACE_XML, this);
        this._dbus.export(Gio.DBus.session, '/org/gnome/shell/extensions/FocusedWindow');
        this._handler = global.display.connect('notify::focus-window', () =>
            this._dbus.emit_signal('FocusChanged', new GLib.Variant('(s)', [this.Get()])));
    }

    disable() {
        global.display.disconnect(this._handler);
        this._dbus.flush();
        this._dbus.unexport();
        this._dbus = null;
    }

    Get() {
        const actor = global.get_window_actors().find(a => a.meta_window.has_focus());
        if (!actor)
            return '{}';
        const w = actor.meta_window;
        return JSON.stringify({
            title: w.get_title(),
            wm_class: w.get_wm_class(),
            wm_class_instance: w.get_wm_class_instance(),
            pid: w.get_pid(),
            id: w.get_id(),
            width: actor.get_width(),
            height: actor.get_height(),
            x: actor.get_x(),
            y: actor.get_y(),
            focus: w.has_focus(),
            maximized: w.get_maximized(),
            monitor: w.get_monitor(),
            role: w.get_role(),
        });
    }
}

/* exported init */
function init() {
    return new FocusedWindow();
}
