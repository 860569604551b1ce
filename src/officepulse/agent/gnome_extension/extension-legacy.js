// officepulse: tells the officepulse agent which window has the focus (GNOME Shell 43-44).
'use strict';

const {Gio, GLib, Shell} = imports.gi;

// @FOCUS@

/* exported init */
function init() {
    return new FocusReporter();
}
