// Evergreen: a resolved Java handler "package.Class::method" and its invocation.
//
// Resolution (reference section 2.3, v1's rules): among the public, non-bridge methods of the
// class with that name whose parameters form a handler signature for the function's encoding,
// take the one with the most parameters; on a tie the one whose last parameter is Context.
//   json:   (Context), (X, Context), (X), ()                                   X != Context
//   binary: (InputStream, OutputStream, Context), (InputStream, OutputStream),
//           (OutputStream, Context), (InputStream, Context), (InputStream), (OutputStream)
// If the class has no signature of the function's encoding, the other list is used (a JSON
// function may use a stream handler and vice versa). "package.Class" alone means handleRequest.
// Instance methods run on one instance made with the no-argument constructor at load time (so
// state of pinned functions survives between invocations).
//
// Invocation: arguments by parameter type: Context -> context, InputStream -> the payload,
// OutputStream -> a buffer that becomes the result; anything else -> the payload decoded
// (json: parsed and converted to the parameter type; binary: byte[] / ByteBuffer / String as
// they are, other types parsed as JSON). Result: the OutputStream's bytes when the method takes
// one; else json: the return value as JSON (void -> null); binary: byte[] / ByteBuffer /
// String raw, void/null empty, other values as JSON.
package com.amazonaws.greengrass.runtime;

import com.amazonaws.services.lambda.runtime.Context;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

public final class Handler {
  /** A handler that cannot be loaded; the message names the problem. */
  public static final class LoadException extends Exception {
    private static final long serialVersionUID = 1L;

    public LoadException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** The payload could not be decoded for the handler (reported as a Handled error). */
  public static final class PayloadException extends Exception {
    private static final long serialVersionUID = 1L;

    public PayloadException(String message) {
      super(message);
    }
  }

  private final Method method;
  private final Object instance;
  private final boolean binary;
  private final String warning;

  private Handler(Method method, Object instance, boolean binary, String warning) {
    this.method = method;
    this.instance = instance;
    this.binary = binary;
    this.warning = warning;
  }

  public Method method() {
    return method;
  }

  /** A note about an ambiguous choice, or null. */
  public String warning() {
    return warning;
  }

  static boolean isStreamForm(Class<?>[] p) {
    switch (p.length) {
      case 3:
        return p[0] == InputStream.class && p[1] == OutputStream.class && p[2] == Context.class;
      case 2:
        return (p[0] == InputStream.class && p[1] == OutputStream.class)
            || (p[0] == OutputStream.class && p[1] == Context.class)
            || (p[0] == InputStream.class && p[1] == Context.class);
      case 1:
        return p[0] == InputStream.class || p[0] == OutputStream.class;
      default:
        return false;
    }
  }

  static boolean isJsonForm(Class<?>[] p) {
    switch (p.length) {
      case 0:
        return true;
      case 1:
        return true;  // (Context) or (X)
      case 2:
        return p[0] != Context.class && p[1] == Context.class;
      default:
        return false;
    }
  }

  /** Picks the handler method of cls per v1's rules; null when none fits. */
  static Method choose(Class<?> cls, String name, boolean binary, StringBuilder warning) {
    List<Method> stream = new ArrayList<>();
    List<Method> json = new ArrayList<>();
    for (Method m : cls.getMethods()) {
      if (!m.getName().equals(name) || m.isBridge() || m.isSynthetic()) continue;
      Class<?>[] p = m.getParameterTypes();
      if (isStreamForm(p)) stream.add(m);
      if (isJsonForm(p)) json.add(m);
    }
    List<Method> set = binary ? stream : json;
    if (set.isEmpty()) set = binary ? json : stream;
    if (set.isEmpty()) return null;
    Comparator<Method> order =
        Comparator.<Method>comparingInt(m -> m.getParameterCount())
            .thenComparingInt(m -> lastIsContext(m) ? 1 : 0);
    Method best = set.get(0);
    for (Method m : set) if (order.compare(m, best) > 0) best = m;
    List<Method> ties = new ArrayList<>();
    for (Method m : set) if (order.compare(m, best) == 0) ties.add(m);
    if (ties.size() > 1) {
      ties.sort(Comparator.comparing(Method::toGenericString));
      best = ties.get(0);
      warning.append("several handler methods fit equally well, using ").append(best.toGenericString());
    }
    return best;
  }

  private static boolean lastIsContext(Method m) {
    Class<?>[] p = m.getParameterTypes();
    return p.length > 0 && p[p.length - 1] == Context.class;
  }

  /** Loads "package.Class::method" with loader (runs the class's static initialisers). */
  public static Handler load(String spec, boolean binary, ClassLoader loader) throws LoadException {
    if (spec == null || spec.trim().isEmpty()) throw new LoadException("the handler is empty", null);
    String className = spec.trim();
    String methodName = "handleRequest";
    int sep = className.indexOf("::");
    if (sep >= 0) {
      methodName = className.substring(sep + 2);
      className = className.substring(0, sep);
    }
    if (className.isEmpty() || methodName.isEmpty() || methodName.contains(":")) {
      throw new LoadException("handler \"" + spec + "\" is not of the form package.Class::method", null);
    }
    Class<?> cls;
    try {
      cls = Class.forName(className, true, loader);
    } catch (ClassNotFoundException e) {
      throw new LoadException("class " + className + " not found (looked in the function's classes and lib/*.jar)", e);
    } catch (ExceptionInInitializerError e) {
      Throwable c = e.getCause() != null ? e.getCause() : e;
      throw new LoadException("static initialisation of " + className + " failed: " + c, c);
    } catch (LinkageError e) {
      throw new LoadException("class " + className + " could not be loaded: " + e, e);
    }
    StringBuilder warning = new StringBuilder();
    Method m = choose(cls, methodName, binary, warning);
    if (m == null) {
      List<String> found = new ArrayList<>();
      for (Method d : cls.getDeclaredMethods()) {
        if (d.getName().equals(methodName)) found.add(d.toGenericString());
      }
      throw new LoadException(
          "class "
              + className
              + " has no public method "
              + methodName
              + " with a "
              + (binary ? "binary" : "JSON")
              + " handler signature"
              + (found.isEmpty() ? "" : " (found: " + String.join("; ", found) + ")"),
          null);
    }
    Object instance = null;
    if (!Modifier.isStatic(m.getModifiers())) {
      try {
        java.lang.reflect.Constructor<?> k = cls.getDeclaredConstructor();
        k.setAccessible(true);
        instance = k.newInstance();
      } catch (NoSuchMethodException e) {
        throw new LoadException(className + " needs a no-argument constructor for the instance method " + methodName, e);
      } catch (InvocationTargetException e) {
        Throwable c = e.getCause();
        throw new LoadException("constructor of " + className + " threw " + c, c);
      } catch (ReflectiveOperationException | RuntimeException e) {
        throw new LoadException("cannot create " + className + ": " + e, e);
      }
    }
    try {
      m.setAccessible(true);  // public method of a non-public class
    } catch (RuntimeException e) {
      // keep going; invoke reports it
    }
    return new Handler(m, instance, binary, warning.length() == 0 ? null : warning.toString());
  }

  /** What the handler produced: E4 bytes. */
  public byte[] invoke(byte[] payload, Context context) throws PayloadException, InvocationTargetException {
    Class<?>[] types = method.getParameterTypes();
    Type[] generic = method.getGenericParameterTypes();
    Object[] args = new Object[types.length];
    ByteArrayOutputStream out = null;
    for (int i = 0; i < types.length; i++) {
      Class<?> t = types[i];
      if (t == Context.class) {
        args[i] = context;
      } else if (t == InputStream.class) {
        args[i] = new ByteArrayInputStream(payload);
      } else if (t == OutputStream.class) {
        out = new ByteArrayOutputStream();
        args[i] = out;
      } else {
        args[i] = decode(payload, t, generic[i]);
      }
    }
    Object result;
    try {
      result = method.invoke(instance, args);
    } catch (IllegalAccessException e) {
      throw new InvocationTargetException(e);
    }
    if (out != null) return out.toByteArray();
    try {
      return encode(result, method.getReturnType() == void.class);
    } catch (Json.JsonException e) {
      throw new InvocationTargetException(new IllegalArgumentException("Unable to marshal the result: " + e.getMessage()));
    }
  }

  private Object decode(byte[] payload, Class<?> t, Type generic) throws PayloadException {
    if (t == byte[].class) return payload;
    if (t == ByteBuffer.class) return ByteBuffer.wrap(payload);
    if (binary && (t == String.class || t == CharSequence.class)) {
      return new String(payload, StandardCharsets.UTF_8);
    }
    String text = new String(payload, StandardCharsets.UTF_8);
    Object parsed;
    if (text.trim().isEmpty()) {
      if (t == String.class || t == CharSequence.class) return "";
      parsed = new java.util.LinkedHashMap<String, Object>();  // empty body -> {} (as Node and Python)
    } else {
      try {
        parsed = Json.parse(text);
      } catch (Json.JsonException e) {
        throw new PayloadException("Could not parse the payload as JSON: " + e.getMessage());
      }
    }
    if ((t == String.class || t == CharSequence.class) && !(parsed instanceof String)) return text;
    try {
      return Json.convert(parsed, generic);
    } catch (Json.JsonException e) {
      throw new PayloadException(
          "Could not convert the payload to " + t.getName() + ": " + e.getMessage());
    }
  }

  private byte[] encode(Object result, boolean isVoid) throws Json.JsonException {
    if (binary) {
      if (result == null) return new byte[0];
      if (result instanceof byte[]) return (byte[]) result;
      if (result instanceof ByteBuffer) {
        ByteBuffer b = ((ByteBuffer) result).duplicate();
        byte[] a = new byte[b.remaining()];
        b.get(a);
        return a;
      }
      if (result instanceof CharSequence) return result.toString().getBytes(StandardCharsets.UTF_8);
    }
    return Json.write(isVoid ? null : result).getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public String toString() {
    return method.toGenericString() + " " + Arrays.toString(method.getParameterTypes());
  }
}
