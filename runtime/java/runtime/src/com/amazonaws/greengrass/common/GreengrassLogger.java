// Evergreen: the logger the genuine Java SDK uses (GreengrassLoggerWraper); records go to the
// function's log pipe of their level (_GG_LOG_FD_*), filtered by LOG_LEVEL.
package com.amazonaws.greengrass.common;

import com.amazonaws.greengrass.runtime.LogSink;
import java.nio.charset.StandardCharsets;

public class GreengrassLogger {
  public GreengrassLogger() {}

  public void log(byte[] message, LogLevel level) {
    LogSink.get().write(level == null ? LogLevel.INFO : level, message);
  }

  public void log(String message, LogLevel level) {
    log(message == null ? new byte[0] : message.getBytes(StandardCharsets.UTF_8), level);
  }

  public void trace(String message) {
    log(message, LogLevel.TRACE);
  }

  public void debug(String message) {
    log(message, LogLevel.DEBUG);
  }

  public void info(String message) {
    log(message, LogLevel.INFO);
  }

  public void warn(String message) {
    log(message, LogLevel.WARN);
  }

  public void error(String message) {
    log(message, LogLevel.ERROR);
  }

  public void fatal(String message) {
    log(message, LogLevel.FATAL);
  }
}
