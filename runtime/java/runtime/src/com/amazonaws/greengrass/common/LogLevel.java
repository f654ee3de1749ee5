// Evergreen: v1 log levels (runtime-provided class the genuine Java SDK links against).
package com.amazonaws.greengrass.common;

public enum LogLevel {
  TRACE,
  DEBUG,
  INFO,
  WARN,
  ERROR,
  FATAL,
  NOTSET;

  /** Parses a LOG_LEVEL value (case-insensitive, WARNING accepted); null when unknown. */
  public static LogLevel parse(String value) {
    if (value == null || value.isEmpty()) return NOTSET;
    String v = value.trim().toUpperCase(java.util.Locale.ROOT);
    if (v.equals("WARNING")) return WARN;
    if (v.equals("CRITICAL")) return FATAL;
    for (LogLevel l : values()) {
      if (l.name().equals(v)) return l;
    }
    return null;
  }
}
