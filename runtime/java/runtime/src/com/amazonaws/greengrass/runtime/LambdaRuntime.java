// Evergreen Java function runtime (reference sections 2.1, 2.3, 4.3).
//
// Started by the core as
//   java -XX:+UseSerialGC ... -cp <runtime jar>:<code>:<code>/lib/*:<code>/*:<our SDK jar>
//        com.amazonaws.greengrass.runtime.LambdaRuntime --handler=package.Class::method
// with cwd = the function's code directory and the environment of reference section 1.2.
//
// Flow:
//   1. System.out -> INFO pipe, System.err -> ERROR pipe (_GG_LOG_FD_*), one record per line;
//      SIGTERM -> "Caught signal 15. Stopping runtime." and exit 0 (user threads don't matter).
//   2. Check the environment (exit 2 naming every problem), load the handler (Handler.load);
//      report the outcome with E6 (PUT .../initialized); on failure exit 1.
//   3. Loop: E3 long poll -> context + Handler.invoke -> E4 with the result, or E5
//      (X-Amz-Function-Error: Handled) with {"errorMessage","errorType","stackTrace"[,"cause"]}.
//      IPC failures back off (50 ms doubling to 2 s); after EVERGREEN_RUNTIME_MAX_IPC_FAILURES
//      (default 30; 0 = never) in a row the runtime exits 3 and the core restarts it.
// Nothing is logged at INFO or above on the hot path.
package com.amazonaws.greengrass.runtime;

import com.amazonaws.greengrass.common.FunctionArnFields;
import com.amazonaws.greengrass.common.InvalidArnException;
import com.amazonaws.greengrass.common.LogLevel;
import com.amazonaws.greengrass.ipcsdk.DefaultIPCClient;
import com.amazonaws.greengrass.ipcsdk.IPCException;
import com.amazonaws.greengrass.ipcsdk.WorkItem;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import java.io.PrintStream;
import java.lang.invoke.CallSite;
import java.lang.invoke.LambdaMetafactory;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.InvocationTargetException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class LambdaRuntime {
  public static final int EXIT_OK = 0;
  public static final int EXIT_LOAD_FAILURE = 1;
  public static final int EXIT_BAD_ENVIRONMENT = 2;
  public static final int EXIT_IPC_FAILURE = 3;

  public static final long BACKOFF_INITIAL_MS = 50;
  public static final long BACKOFF_MAX_MS = 2000;
  public static final int DEFAULT_MAX_CONSECUTIVE_IPC_FAILURES = 30;
  public static final int DEFAULT_FUNCTION_TIMEOUT_MS = 3000;
  public static final int MAX_STACK_FRAMES = 50;
  public static final int MAX_ERROR_MESSAGE_CHARS = 64 * 1024;
  public static final int MAX_CAUSE_DEPTH = 8;
  public static final int MAX_LOG_LINE = 16 * 1024;

  private final DefaultIPCClient ipc;
  private final String functionArn;
  private final Handler handler;
  private final String functionName;
  private final String functionVersion;
  private final String logGroupName;
  private final long timeoutNanos;
  private final int memoryLimitMb;
  private final int maxConsecutiveFailures;
  private final LogSink log;
  private final LambdaLogger lambdaLogger;

  LambdaRuntime(
      DefaultIPCClient ipc,
      String functionArn,
      Handler handler,
      FunctionArnFields arn,
      int timeoutMs,
      int memoryLimitMb,
      int maxConsecutiveFailures,
      LogSink log) {
    this.ipc = ipc;
    this.functionArn = functionArn;
    this.handler = handler;
    this.functionName = arn.getName();
    this.functionVersion = arn.getQualifier() == null ? "" : arn.getQualifier();
    this.logGroupName = "/Lambda/" + arn.getRegion() + "/" + arn.getAccountId() + "/" + arn.getName();
    this.timeoutNanos = timeoutMs * 1_000_000L;
    this.memoryLimitMb = memoryLimitMb;
    this.maxConsecutiveFailures = maxConsecutiveFailures;
    this.log = log;
    this.lambdaLogger =
        message -> {
          byte[] b = bytes(message);
          log.writeRaw(LogLevel.INFO, b, 0, b.length);
        };
  }

  private static byte[] bytes(String s) {
    return (s == null ? "null" : s).getBytes(StandardCharsets.UTF_8);
  }

  /** E3 -> handler -> E4/E5 until IPC keeps failing; returns the exit code. */
  int runForever() {
    int failures = 0;
    long backoff = BACKOFF_INITIAL_MS;
    WorkItem next = null;
    while (true) {
      try {
        WorkItem item = next != null ? next : ipc.getWork(functionArn);
        next = null;
        failures = 0;
        backoff = BACKOFF_INITIAL_MS;
        Outcome o = invoke(item);
        if (o.error == null) {
          // E4 and the next E3 in one write (one round trip less per invocation).
          next =
              ipc.postWorkResultAndGetWork(
                  functionArn,
                  item.getInvocationId(),
                  o.result,
                  refused ->
                      log.write(
                          LogLevel.ERROR,
                          "The core refused the result of " + item.getInvocationId() + ": " + refused.getMessage()));
        } else {
          ipc.postHandlerError(functionArn, item.getInvocationId(), o.error);
        }
      } catch (IPCException e) {
        failures++;
        if (maxConsecutiveFailures > 0 && failures >= maxConsecutiveFailures) {
          log.write(LogLevel.ERROR, "Giving up after " + failures + " consecutive IPC failures; last: " + e.getMessage());
          return EXIT_IPC_FAILURE;
        }
        log.write(LogLevel.WARN, "IPC failure (" + failures + " in a row), retrying in " + backoff + " ms: " + e.getMessage());
        try {
          Thread.sleep(backoff);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          return EXIT_OK;
        }
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      }
    }
  }

  static final class Outcome {
    final byte[] result;
    final byte[] error;

    Outcome(byte[] result, byte[] error) {
      this.result = result;
      this.error = error;
    }
  }

  Outcome invoke(WorkItem item) {
    long start = System.nanoTime();
    ClientContext cc = null;
    try {
      cc = LambdaContext.decodeClientContext(item.getClientContext());
    } catch (IllegalArgumentException e) {
      log.write(LogLevel.WARN, "Ignoring the client context: " + e.getMessage());
    }
    LambdaContext ctx =
        new LambdaContext(
            item.getInvocationId(),
            functionArn,
            functionName,
            functionVersion,
            logGroupName,
            cc,
            start + timeoutNanos,
            memoryLimitMb,
            lambdaLogger);
    try {
      return new Outcome(handler.invoke(item.getPayload(), ctx), null);
    } catch (Handler.PayloadException e) {
      return new Outcome(null, errorBody(e.getMessage(), "PayloadException", null));
    } catch (InvocationTargetException e) {
      Throwable t = e.getCause() != null ? e.getCause() : e;
      log.write(LogLevel.ERROR, "Function " + functionName + " threw " + stackTraceText(t));
      return new Outcome(null, errorBody(t));
    } catch (RuntimeException | LinkageError e) {
      log.write(LogLevel.ERROR, "Function " + functionName + " failed: " + stackTraceText(e));
      return new Outcome(null, errorBody(e));
    }
  }

  static String stackTraceText(Throwable t) {
    java.io.StringWriter w = new java.io.StringWriter();
    t.printStackTrace(new java.io.PrintWriter(w));
    return w.toString();
  }

  static Map<String, Object> errorDocument(Throwable t, int depth) {
    Map<String, Object> m = new LinkedHashMap<>();
    String msg = t.getMessage();
    if (msg != null && msg.length() > MAX_ERROR_MESSAGE_CHARS) msg = msg.substring(0, MAX_ERROR_MESSAGE_CHARS);
    m.put("errorMessage", msg);
    m.put("errorType", t.getClass().getName());
    List<String> frames = new ArrayList<>();
    for (StackTraceElement f : t.getStackTrace()) {
      if (f.getClassName().startsWith("jdk.internal.reflect.")
          || f.getClassName().startsWith("sun.reflect.")
          || f.getClassName().equals("java.lang.reflect.Method")
          || f.getClassName().startsWith("com.amazonaws.greengrass.runtime.")) {
        continue;
      }
      frames.add(f.toString());
      if (frames.size() >= MAX_STACK_FRAMES) break;
    }
    m.put("stackTrace", frames);
    Throwable cause = t.getCause();
    if (cause != null && cause != t && depth < MAX_CAUSE_DEPTH) m.put("cause", errorDocument(cause, depth + 1));
    return m;
  }

  static byte[] errorBody(Throwable t) {
    return json(errorDocument(t, 0));
  }

  static byte[] errorBody(String message, String type, List<String> stack) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("errorMessage", message);
    m.put("errorType", type);
    m.put("stackTrace", stack == null ? new ArrayList<String>() : stack);
    return json(m);
  }

  private static byte[] json(Object o) {
    try {
      return Json.write(o).getBytes(StandardCharsets.UTF_8);
    } catch (Json.JsonException e) {
      return ("{\"errorMessage\":" + Json.quote(String.valueOf(e.getMessage())) + "}").getBytes(StandardCharsets.UTF_8);
    }
  }

  static final String STANDBY_ARG = "--standby";

  static boolean isStandby(String[] argv) {
    for (String a : argv) {
      if (a.equals(STANDBY_ARG)) return true;
    }
    return false;
  }

  /**
   * A standby worker (argv holds --standby: started ahead of need, src/supervisor/README.md
   * "Standby workers") blocks here, after the JVM and the runtime are loaded and before the
   * user's classes, until the core assigns it: one byte on stdin. EOF: not needed (false, exit 0).
   */
  static boolean awaitStartSignal() {
    try {
      return new java.io.FileInputStream(java.io.FileDescriptor.in).read() == 'g';
    } catch (java.io.IOException e) {
      return false;
    }
  }

  static String parseHandlerArg(String[] argv) {
    for (int i = 0; i < argv.length; i++) {
      if (argv[i].startsWith("--handler=")) return argv[i].substring("--handler=".length());
      if (argv[i].equals("--handler") && i + 1 < argv.length) return argv[i + 1];
    }
    return null;
  }

  static int envInt(Map<String, String> env, String name, int dflt, int min, LogSink log) {
    String raw = env.get(name);
    if (raw == null || raw.isEmpty()) return dflt;
    try {
      int v = Integer.parseInt(raw.trim());
      if (v >= min) return v;
      log.write(LogLevel.ERROR, name + " must be >= " + min + ", got " + v + "; using " + dflt);
    } catch (NumberFormatException e) {
      log.write(LogLevel.ERROR, name + " must be an integer, got \"" + raw + "\"; using " + dflt);
    }
    return dflt;
  }

  /** SIGTERM -> log + exit 0, through sun.misc.Signal when the JVM has it (all HotSpots do). */
  static void installSigtermHandler(final LogSink log) {
    try {
      Class<?> signalClass = Class.forName("sun.misc.Signal");
      Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
      Object signal = signalClass.getConstructor(String.class).newInstance("TERM");
      sigtermLog = log;
      // A sun.misc.SignalHandler made by LambdaMetafactory (what a lambda compiles to) rather
      // than a java.lang.reflect.Proxy: the same handler without spinning a proxy class at every
      // start (issue 17: ~10 ms of a cold start), and no compile-time use of sun.misc (javac
      // --release 8 cannot see it).
      MethodHandles.Lookup lookup = MethodHandles.lookup();
      MethodHandle impl =
          lookup.findStatic(LambdaRuntime.class, "onSigterm", MethodType.methodType(void.class, Object.class));
      CallSite site =
          LambdaMetafactory.metafactory(
              lookup,
              "handle",
              MethodType.methodType(handlerClass),
              MethodType.methodType(void.class, signalClass),
              impl,
              MethodType.methodType(void.class, signalClass));
      Object h = site.getTarget().invoke();
      signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, signal, h);
    } catch (Throwable e) {
      if (e instanceof VirtualMachineError) throw (VirtualMachineError) e;
      // No sun.misc.Signal: the JVM's default SIGTERM handling (exit 143) still stops us.
      log.write(LogLevel.WARN, "Cannot install the SIGTERM handler (" + e + "); SIGTERM exits with 143");
    }
  }

  private static volatile LogSink sigtermLog;

  /** The SIGTERM handler's body (argument: the sun.misc.Signal). */
  static void onSigterm(Object signal) {
    LogSink log = sigtermLog;
    if (log != null) log.write(LogLevel.INFO, "Caught signal 15. Stopping runtime.");
    System.out.flush();
    System.err.flush();
    Runtime.getRuntime().halt(EXIT_OK);
  }

  private static byte[] initBody(boolean ok, String response) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("Success", ok);
    m.put("Response", response);
    return json(m);
  }

  static int run(String[] argv, Map<String, String> env) {
    LogSink log = new LogSink(env);
    LogSink.install(log);
    System.setOut(new PrintStream(log.lineStream(LogLevel.INFO, MAX_LOG_LINE), true));
    System.setErr(new PrintStream(log.lineStream(LogLevel.ERROR, MAX_LOG_LINE), true));
    if (log.badLevel() != null) {
      log.write(LogLevel.ERROR, "LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, NOTSET; got \""
          + log.badLevel() + "\"; logging at INFO");
    }
    installSigtermHandler(log);

    String handlerName = parseHandlerArg(argv);
    String functionArn = env.get("MY_FUNCTION_ARN");
    List<String> problems = new ArrayList<>();
    if (handlerName == null || handlerName.isEmpty()) problems.add("missing --handler=<package.Class::method> argument");
    if (functionArn == null || functionArn.isEmpty()) problems.add("MY_FUNCTION_ARN is not set");
    if (env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") == null) problems.add("AWS_CONTAINER_AUTHORIZATION_TOKEN is not set");
    String encoding = env.getOrDefault("ENCODING_TYPE", "json");
    if (encoding.isEmpty()) encoding = "json";
    encoding = encoding.toLowerCase(java.util.Locale.ROOT);
    if (!encoding.equals("json") && !encoding.equals("binary")) {
      problems.add("ENCODING_TYPE must be json or binary, got \"" + env.get("ENCODING_TYPE") + "\"");
    }
    FunctionArnFields arn = null;
    if (functionArn != null && !functionArn.isEmpty()) {
      try {
        arn = FunctionArnFields.fromString(functionArn);
      } catch (InvalidArnException e) {
        problems.add("MY_FUNCTION_ARN: " + e.getMessage());
      }
    }
    int port = DefaultIPCClient.DEFAULT_PORT;
    String portText = env.get("GG_DAEMON_PORT");
    if (portText != null && !portText.isEmpty()) {
      try {
        port = Integer.parseInt(portText.trim());
        if (port < 1 || port > 65535) problems.add("GG_DAEMON_PORT must be 1-65535, got " + portText);
      } catch (NumberFormatException e) {
        problems.add("GG_DAEMON_PORT must be an integer, got \"" + portText + "\"");
      }
    }
    if (!problems.isEmpty()) {
      String message = "Cannot start the Java runtime: " + String.join("; ", problems);
      log.write(LogLevel.ERROR, message);
      return EXIT_BAD_ENVIRONMENT;
    }
    DefaultIPCClient ipc = new DefaultIPCClient("127.0.0.1", port, env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
    if (isStandby(argv) && !awaitStartSignal()) return EXIT_OK;
    log.write(LogLevel.INFO, "Running [" + functionArn + "]");
    Handler handler;
    try {
      handler = Handler.load(handlerName, encoding.equals("binary"), ClassLoader.getSystemClassLoader());
    } catch (Handler.LoadException e) {
      log.write(LogLevel.ERROR, "Failed to load handler \"" + handlerName + "\": " + e.getMessage()
          + (e.getCause() != null ? "\n" + stackTraceText(e.getCause()) : ""));
      try {
        ipc.putInitializationResult(functionArn, initBody(false, "Handler.LoadException(" + Json.quote(e.getMessage()) + ")"));
      } catch (IPCException ie) {
        log.write(LogLevel.ERROR, "Could not report the initialization failure: " + ie.getMessage());
      }
      return EXIT_LOAD_FAILURE;
    }
    if (handler.warning() != null) log.write(LogLevel.WARN, handler.warning());
    try {
      ipc.putInitializationResult(functionArn, initBody(true, ""));
    } catch (IPCException e) {
      log.write(LogLevel.WARN, "Could not report initialization success: " + e.getMessage());
    }
    LambdaRuntime rt =
        new LambdaRuntime(
            ipc,
            functionArn,
            handler,
            arn,
            envInt(env, "EVERGREEN_FUNCTION_TIMEOUT_MS", DEFAULT_FUNCTION_TIMEOUT_MS, 1, log),
            envInt(env, "EVERGREEN_MEMORY_LIMIT_MB", 0, 0, log),
            envInt(env, "EVERGREEN_RUNTIME_MAX_IPC_FAILURES", DEFAULT_MAX_CONSECUTIVE_IPC_FAILURES, 0, log),
            log);
    return rt.runForever();
  }

  public static void main(String[] argv) {
    int code = run(argv, System.getenv());
    System.out.flush();
    System.err.flush();
    Runtime.getRuntime().halt(code);
  }
}
