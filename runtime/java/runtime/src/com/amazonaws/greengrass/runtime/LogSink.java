// Evergreen: per-level log pipes of a worker (_GG_LOG_FD_{TRACE,DEBUG,INFO,WARN,ERROR,FATAL}).
// Every record is written as whole lines, one write() per record, so records of concurrent
// threads never interleave inside a line. A level without an fd uses a neighbour
// (FATAL->ERROR->WARN->INFO, TRACE->DEBUG->INFO); with no fds at all records go to stderr.
// LOG_LEVEL filters records below it (System.out/System.err are never filtered).
package com.amazonaws.greengrass.runtime;

import com.amazonaws.greengrass.common.LogLevel;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.Map;

public final class LogSink {
  private static volatile LogSink instance;

  private final Map<LogLevel, OutputStream> out = new EnumMap<>(LogLevel.class);
  private final LogLevel minLevel;

  /** Builds a sink from an environment map (fd values must be integers). */
  public LogSink(Map<String, String> env) {
    LogLevel parsed = LogLevel.parse(env.get("LOG_LEVEL"));
    minLevel = parsed == null ? LogLevel.INFO : parsed;
    Map<LogLevel, OutputStream> fds = new EnumMap<>(LogLevel.class);
    for (LogLevel l : LogLevel.values()) {
      if (l == LogLevel.NOTSET) continue;
      String raw = env.get("_GG_LOG_FD_" + l.name());
      if (raw == null || raw.isEmpty()) continue;
      try {
        int fd = Integer.parseInt(raw.trim());
        fds.put(l, new FileOutputStream("/proc/self/fd/" + fd));
      } catch (NumberFormatException | IOException e) {
        // Unusable fd: fall back to a neighbouring level below.
      }
    }
    OutputStream stderr = new FileOutputStream(FileDescriptor.err);
    OutputStream info = fds.getOrDefault(LogLevel.INFO, stderr);
    OutputStream debug = fds.getOrDefault(LogLevel.DEBUG, info);
    OutputStream warn = fds.getOrDefault(LogLevel.WARN, info);
    OutputStream error = fds.getOrDefault(LogLevel.ERROR, warn);
    out.put(LogLevel.TRACE, fds.getOrDefault(LogLevel.TRACE, debug));
    out.put(LogLevel.DEBUG, debug);
    out.put(LogLevel.INFO, info);
    out.put(LogLevel.WARN, warn);
    out.put(LogLevel.ERROR, error);
    out.put(LogLevel.FATAL, fds.getOrDefault(LogLevel.FATAL, error));
    out.put(LogLevel.NOTSET, info);
    badLevel = parsed == null ? env.get("LOG_LEVEL") : null;
  }

  private final String badLevel;

  /** The LOG_LEVEL value that could not be parsed (INFO is used), or null. */
  public String badLevel() {
    return badLevel;
  }

  /** The process-wide sink (built from System.getenv() on first use). */
  public static LogSink get() {
    LogSink s = instance;
    if (s == null) {
      synchronized (LogSink.class) {
        if (instance == null) instance = new LogSink(System.getenv());
        s = instance;
      }
    }
    return s;
  }

  public static void install(LogSink sink) {
    instance = sink;
  }

  public boolean enabled(LogLevel level) {
    return minLevel == LogLevel.NOTSET || level.ordinal() >= minLevel.ordinal();
  }

  public OutputStream stream(LogLevel level) {
    return out.get(level);
  }

  /** Writes one record (a trailing newline is added when missing), filtered by LOG_LEVEL. */
  public void write(LogLevel level, byte[] message) {
    if (!enabled(level)) return;
    writeRaw(level, message, 0, message.length);
  }

  public void write(LogLevel level, String message) {
    write(level, message.getBytes(StandardCharsets.UTF_8));
  }

  void writeRaw(LogLevel level, byte[] b, int off, int len) {
    OutputStream os = out.get(level);
    byte[] line;
    if (len > 0 && b[off + len - 1] == '\n') {
      line = (off == 0 && len == b.length) ? b : java.util.Arrays.copyOfRange(b, off, off + len);
    } else {
      line = new byte[len + 1];
      System.arraycopy(b, off, line, 0, len);
      line[len] = '\n';
    }
    synchronized (os) {
      try {
        os.write(line);
      } catch (IOException e) {
        // The core closed the pipe (shutting down); nothing useful to do.
      }
    }
  }

  /**
   * An OutputStream for System.out/System.err: bytes are collected per thread until '\n' and each
   * complete line is written as one record (lines longer than maxLine are split).
   */
  public OutputStream lineStream(final LogLevel level, final int maxLine) {
    return new OutputStream() {
      private final ThreadLocal<java.io.ByteArrayOutputStream> buf =
          ThreadLocal.withInitial(java.io.ByteArrayOutputStream::new);

      @Override
      public void write(int b) {
        java.io.ByteArrayOutputStream bb = buf.get();
        if (b == '\n') {
          emit(bb);
        } else {
          bb.write(b);
          if (bb.size() >= maxLine) emit(bb);
        }
      }

      @Override
      public void write(byte[] b, int off, int len) {
        java.io.ByteArrayOutputStream bb = buf.get();
        int start = off;
        int end = off + len;
        for (int i = off; i < end; i++) {
          if (b[i] == '\n') {
            bb.write(b, start, i - start);
            emit(bb);
            start = i + 1;
          } else if (bb.size() + (i - start) >= maxLine) {
            bb.write(b, start, i - start);
            emit(bb);
            start = i;
          }
        }
        bb.write(b, start, end - start);
      }

      @Override
      public void flush() {
        // Partial lines stay buffered until their newline (print() without println()).
      }

      private void emit(java.io.ByteArrayOutputStream bb) {
        writeRaw(level, bb.toByteArray(), 0, bb.size());
        bb.reset();
      }
    };
  }
}
