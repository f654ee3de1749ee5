// Evergreen: a small JSON codec (no dependencies; Jackson is not on the function classpath).
//   parse(text)            -> Map (LinkedHashMap) / List / String / Long / BigInteger / Double /
//                             Boolean / null; JsonException naming the position on bad input.
//   write(value)           -> JSON text: Map, Iterable, arrays, CharSequence, Number, Boolean,
//                             Character, Enum (name), byte[] (base64), Date (epoch ms),
//                             Optional, and beans (getX/isX getters + public fields).
//   convert(value, type)   -> the parsed value as a handler parameter type: Object, String,
//                             boxed/primitive numbers, Boolean, Map/List/Set (generic element
//                             types honoured), arrays, enums, byte[] (base64), beans (setters or
//                             public fields; unknown properties ignored, names case-insensitive).
// Bounds: MAX_DEPTH nesting levels (both ways).
package com.amazonaws.greengrass.runtime;

import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.WildcardType;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Date;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

public final class Json {
  public static final int MAX_DEPTH = 512;

  private Json() {}

  /** Bad JSON text, or a value that cannot be converted/serialised. */
  public static final class JsonException extends Exception {
    private static final long serialVersionUID = 1L;

    public JsonException(String message) {
      super(message);
    }
  }

  // ------------------------------------------------------------------ parse

  public static Object parse(String text) throws JsonException {
    Parser p = new Parser(text);
    p.ws();
    Object v = p.value(0);
    p.ws();
    if (p.pos != text.length()) throw p.error("unexpected data after the JSON value");
    return v;
  }

  private static final class Parser {
    final String s;
    int pos;

    Parser(String s) {
      this.s = s;
    }

    JsonException error(String what) {
      return new JsonException(what + " at character " + pos);
    }

    void ws() {
      while (pos < s.length()) {
        char c = s.charAt(pos);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') pos++;
        else break;
      }
    }

    Object value(int depth) throws JsonException {
      if (depth > MAX_DEPTH) throw error("JSON nested deeper than " + MAX_DEPTH + " levels");
      if (pos >= s.length()) throw error("unexpected end of JSON input");
      char c = s.charAt(pos);
      switch (c) {
        case '{':
          return object(depth);
        case '[':
          return array(depth);
        case '"':
          return string();
        case 't':
          return literal("true", Boolean.TRUE);
        case 'f':
          return literal("false", Boolean.FALSE);
        case 'n':
          return literal("null", null);
        default:
          if (c == '-' || (c >= '0' && c <= '9')) return number();
          throw error("unexpected character '" + c + "'");
      }
    }

    Object literal(String word, Object v) throws JsonException {
      if (!s.startsWith(word, pos)) throw error("invalid literal");
      pos += word.length();
      return v;
    }

    Map<String, Object> object(int depth) throws JsonException {
      Map<String, Object> m = new LinkedHashMap<>();
      pos++;
      ws();
      if (pos < s.length() && s.charAt(pos) == '}') {
        pos++;
        return m;
      }
      while (true) {
        ws();
        if (pos >= s.length() || s.charAt(pos) != '"') throw error("expected a string key");
        String k = string();
        ws();
        if (pos >= s.length() || s.charAt(pos) != ':') throw error("expected ':'");
        pos++;
        ws();
        m.put(k, value(depth + 1));
        ws();
        if (pos >= s.length()) throw error("unterminated object");
        char c = s.charAt(pos++);
        if (c == '}') return m;
        if (c != ',') throw error("expected ',' or '}'");
      }
    }

    List<Object> array(int depth) throws JsonException {
      List<Object> l = new ArrayList<>();
      pos++;
      ws();
      if (pos < s.length() && s.charAt(pos) == ']') {
        pos++;
        return l;
      }
      while (true) {
        ws();
        l.add(value(depth + 1));
        ws();
        if (pos >= s.length()) throw error("unterminated array");
        char c = s.charAt(pos++);
        if (c == ']') return l;
        if (c != ',') throw error("expected ',' or ']'");
      }
    }

    String string() throws JsonException {
      pos++;
      StringBuilder sb = null;
      int start = pos;
      while (true) {
        if (pos >= s.length()) throw error("unterminated string");
        char c = s.charAt(pos);
        if (c == '"') {
          String out = sb == null ? s.substring(start, pos) : sb.append(s, start, pos).toString();
          pos++;
          return out;
        }
        if (c < 0x20) throw error("control character in string");
        if (c == '\\') {
          if (sb == null) sb = new StringBuilder();
          sb.append(s, start, pos);
          pos++;
          if (pos >= s.length()) throw error("unterminated escape");
          char e = s.charAt(pos++);
          switch (e) {
            case '"':
            case '\\':
            case '/':
              sb.append(e);
              break;
            case 'b':
              sb.append('\b');
              break;
            case 'f':
              sb.append('\f');
              break;
            case 'n':
              sb.append('\n');
              break;
            case 'r':
              sb.append('\r');
              break;
            case 't':
              sb.append('\t');
              break;
            case 'u':
              if (pos + 4 > s.length()) throw error("bad \\u escape");
              try {
                sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
              } catch (NumberFormatException ex) {
                throw error("bad \\u escape");
              }
              pos += 4;
              break;
            default:
              throw error("bad escape \\" + e);
          }
          start = pos;
        } else {
          pos++;
        }
      }
    }

    Object number() throws JsonException {
      int start = pos;
      if (s.charAt(pos) == '-') pos++;
      int digits = pos;
      while (pos < s.length() && Character.isDigit(s.charAt(pos))) pos++;
      if (pos == digits) throw error("bad number");
      if (s.charAt(digits) == '0' && pos - digits > 1) throw error("leading zero in number");
      boolean integral = true;
      if (pos < s.length() && s.charAt(pos) == '.') {
        integral = false;
        pos++;
        int f = pos;
        while (pos < s.length() && Character.isDigit(s.charAt(pos))) pos++;
        if (pos == f) throw error("bad number");
      }
      if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
        integral = false;
        pos++;
        if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) pos++;
        int f = pos;
        while (pos < s.length() && Character.isDigit(s.charAt(pos))) pos++;
        if (pos == f) throw error("bad number");
      }
      String t = s.substring(start, pos);
      if (integral) {
        if (t.length() < 19) return Long.parseLong(t);
        BigInteger b = new BigInteger(t);
        return b.bitLength() < 64 ? (Object) b.longValue() : b;
      }
      return Double.parseDouble(t);
    }
  }

  // ------------------------------------------------------------------ write

  public static String write(Object v) throws JsonException {
    StringBuilder sb = new StringBuilder();
    write(sb, v, 0, new IdentityHashMap<>());
    return sb.toString();
  }

  public static void quote(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          sb.append("\\\"");
          break;
        case '\\':
          sb.append("\\\\");
          break;
        case '\n':
          sb.append("\\n");
          break;
        case '\r':
          sb.append("\\r");
          break;
        case '\t':
          sb.append("\\t");
          break;
        case '\b':
          sb.append("\\b");
          break;
        case '\f':
          sb.append("\\f");
          break;
        default:
          if (c < 0x20 || c == 0x2028 || c == 0x2029) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
      }
    }
    sb.append('"');
  }

  public static String quote(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 2);
    quote(sb, s);
    return sb.toString();
  }

  private static void write(StringBuilder sb, Object v, int depth, IdentityHashMap<Object, Object> seen)
      throws JsonException {
    if (depth > MAX_DEPTH) throw new JsonException("value nested deeper than " + MAX_DEPTH + " levels");
    if (v == null) {
      sb.append("null");
    } else if (v instanceof CharSequence || v instanceof Character) {
      quote(sb, v.toString());
    } else if (v instanceof Boolean) {
      sb.append(v.toString());
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) {
        throw new JsonException("cannot write " + d + " as JSON");
      }
      if (d == Math.rint(d) && Math.abs(d) < 1e15) {
        sb.append((long) d).append(".0");
      } else {
        sb.append(v.toString());
      }
    } else if (v instanceof BigDecimal) {
      sb.append(((BigDecimal) v).toString());
    } else if (v instanceof Number) {
      sb.append(v.toString());
    } else if (v instanceof Enum) {
      quote(sb, ((Enum<?>) v).name());
    } else if (v instanceof byte[]) {
      quote(sb, Base64.getEncoder().encodeToString((byte[]) v));
    } else if (v instanceof ByteBuffer) {
      ByteBuffer b = ((ByteBuffer) v).duplicate();
      byte[] a = new byte[b.remaining()];
      b.get(a);
      quote(sb, Base64.getEncoder().encodeToString(a));
    } else if (v instanceof Date) {
      sb.append(((Date) v).getTime());
    } else if (v instanceof Optional) {
      write(sb, ((Optional<?>) v).orElse(null), depth + 1, seen);
    } else {
      if (seen.put(v, v) != null) throw new JsonException("cyclic reference in " + v.getClass().getName());
      try {
        if (v instanceof Map) {
          sb.append('{');
          boolean first = true;
          for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            if (!first) sb.append(',');
            first = false;
            quote(sb, String.valueOf(e.getKey()));
            sb.append(':');
            write(sb, e.getValue(), depth + 1, seen);
          }
          sb.append('}');
        } else if (v instanceof Iterable) {
          sb.append('[');
          boolean first = true;
          for (Object o : (Iterable<?>) v) {
            if (!first) sb.append(',');
            first = false;
            write(sb, o, depth + 1, seen);
          }
          sb.append(']');
        } else if (v.getClass().isArray()) {
          sb.append('[');
          int n = Array.getLength(v);
          for (int i = 0; i < n; i++) {
            if (i > 0) sb.append(',');
            write(sb, Array.get(v, i), depth + 1, seen);
          }
          sb.append(']');
        } else {
          writeBean(sb, v, depth, seen);
        }
      } finally {
        seen.remove(v);
      }
    }
  }

  private static void writeBean(StringBuilder sb, Object v, int depth, IdentityHashMap<Object, Object> seen)
      throws JsonException {
    Map<String, Object> props = new LinkedHashMap<>();
    Class<?> c = v.getClass();
    if (!Modifier.isPublic(c.getModifiers())) {
      // Accessors of a non-public class are not callable without setAccessible.
    }
    for (Method m : c.getMethods()) {
      if (Modifier.isStatic(m.getModifiers()) || m.getParameterCount() != 0) continue;
      if (m.getDeclaringClass() == Object.class || m.getReturnType() == void.class) continue;
      String n = m.getName();
      String prop;
      if (n.startsWith("get") && n.length() > 3) {
        prop = decapitalize(n.substring(3));
      } else if (n.startsWith("is") && n.length() > 2
          && (m.getReturnType() == boolean.class || m.getReturnType() == Boolean.class)) {
        prop = decapitalize(n.substring(2));
      } else {
        continue;
      }
      try {
        m.setAccessible(true);
        props.put(prop, m.invoke(v));
      } catch (ReflectiveOperationException | RuntimeException e) {
        throw new JsonException("cannot read property " + prop + " of " + c.getName() + ": " + e);
      }
    }
    for (Field f : c.getFields()) {
      if (Modifier.isStatic(f.getModifiers()) || props.containsKey(f.getName())) continue;
      try {
        props.put(f.getName(), f.get(v));
      } catch (ReflectiveOperationException e) {
        throw new JsonException("cannot read field " + f.getName() + ": " + e);
      }
    }
    SortedMap<String, Object> sorted = new TreeMap<>(props);
    sb.append('{');
    boolean first = true;
    for (Map.Entry<String, Object> e : sorted.entrySet()) {
      if (!first) sb.append(',');
      first = false;
      quote(sb, e.getKey());
      sb.append(':');
      write(sb, e.getValue(), depth + 1, seen);
    }
    sb.append('}');
  }

  private static String decapitalize(String s) {
    if (s.length() > 1 && Character.isUpperCase(s.charAt(0)) && Character.isUpperCase(s.charAt(1))) {
      // "URL" -> "url" (Jackson lower-cases the leading upper-case run)
      int i = 0;
      while (i < s.length() && Character.isUpperCase(s.charAt(i))) i++;
      if (i < s.length() && i > 1) i--;
      return s.substring(0, i).toLowerCase(Locale.ROOT) + s.substring(i);
    }
    return Character.toLowerCase(s.charAt(0)) + s.substring(1);
  }

  // ---------------------------------------------------------------- convert

  public static Object convert(Object v, Type type) throws JsonException {
    return convert(v, type, 0);
  }

  private static Class<?> raw(Type t) {
    if (t instanceof Class) return (Class<?>) t;
    if (t instanceof ParameterizedType) return raw(((ParameterizedType) t).getRawType());
    if (t instanceof GenericArrayType) {
      return Array.newInstance(raw(((GenericArrayType) t).getGenericComponentType()), 0).getClass();
    }
    if (t instanceof WildcardType) {
      Type[] up = ((WildcardType) t).getUpperBounds();
      return up.length > 0 ? raw(up[0]) : Object.class;
    }
    return Object.class;  // type variables
  }

  private static Type typeArg(Type t, int i) {
    if (t instanceof ParameterizedType) {
      Type[] a = ((ParameterizedType) t).getActualTypeArguments();
      if (i < a.length) return a[i];
    }
    return Object.class;
  }

  private static String kind(Object v) {
    if (v == null) return "null";
    if (v instanceof Map) return "an object";
    if (v instanceof List) return "an array";
    if (v instanceof String) return "a string";
    if (v instanceof Boolean) return "a boolean";
    return "a number";
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Object convert(Object v, Type type, int depth) throws JsonException {
    if (depth > MAX_DEPTH) throw new JsonException("value nested deeper than " + MAX_DEPTH + " levels");
    Class<?> c = raw(type);
    if (c == Object.class) return v;
    if (v == null) {
      if (c.isPrimitive()) {
        if (c == boolean.class) return false;
        if (c == char.class) return '\0';
        return convert(0L, c, depth);
      }
      return null;
    }
    if (c.isInstance(v) && !(v instanceof Map) && !(v instanceof List)) return v;
    if (c == String.class || c == CharSequence.class) {
      if (v instanceof String) return v;
      return write(v);
    }
    if (c == byte[].class && v instanceof String) {
      try {
        return Base64.getDecoder().decode((String) v);
      } catch (IllegalArgumentException e) {
        throw new JsonException("expected base64 text for byte[]: " + e.getMessage());
      }
    }
    if (c == ByteBuffer.class && v instanceof String) {
      return ByteBuffer.wrap((byte[]) convert(v, byte[].class, depth));
    }
    if (c == Boolean.class || c == boolean.class) {
      if (v instanceof Boolean) return v;
      if (v instanceof String) return Boolean.parseBoolean((String) v);
      throw new JsonException("expected a boolean, got " + kind(v));
    }
    if (c == Character.class || c == char.class) {
      if (v instanceof String && ((String) v).length() == 1) return ((String) v).charAt(0);
      throw new JsonException("expected a one-character string, got " + kind(v));
    }
    if (Number.class.isAssignableFrom(c) || (c.isPrimitive() && c != void.class)) {
      Number n;
      if (v instanceof Number) {
        n = (Number) v;
      } else if (v instanceof String) {
        try {
          n = new BigDecimal(((String) v).trim());
        } catch (NumberFormatException e) {
          throw new JsonException("expected a number, got \"" + v + "\"");
        }
      } else {
        throw new JsonException("expected a number, got " + kind(v));
      }
      if (c == Integer.class || c == int.class) return n.intValue();
      if (c == Long.class || c == long.class) return n.longValue();
      if (c == Double.class || c == double.class) return n.doubleValue();
      if (c == Float.class || c == float.class) return n.floatValue();
      if (c == Short.class || c == short.class) return n.shortValue();
      if (c == Byte.class || c == byte.class) return n.byteValue();
      if (c == BigDecimal.class) return new BigDecimal(n.toString());
      if (c == BigInteger.class) return new BigDecimal(n.toString()).toBigInteger();
      if (c == Number.class) return n;
      throw new JsonException("unsupported number type " + c.getName());
    }
    if (c.isEnum()) {
      if (!(v instanceof String)) throw new JsonException("expected an enum name, got " + kind(v));
      for (Object e : c.getEnumConstants()) {
        if (((Enum<?>) e).name().equals(v)) return e;
      }
      throw new JsonException("\"" + v + "\" is not a constant of " + c.getName());
    }
    if (c == Date.class && v instanceof Number) return new Date(((Number) v).longValue());
    if (Map.class.isAssignableFrom(c)) {
      if (!(v instanceof Map)) throw new JsonException("expected an object, got " + kind(v));
      Map out;
      if (c.isInterface() || Modifier.isAbstract(c.getModifiers())) {
        out = SortedMap.class.isAssignableFrom(c) ? new TreeMap<>() : new LinkedHashMap<>();
      } else {
        out = (Map) instantiate(c);
      }
      Type kt = typeArg(type, 0);
      Type vt = typeArg(type, 1);
      for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
        Object key = raw(kt) == Object.class || raw(kt) == String.class ? e.getKey() : convert(e.getKey(), kt, depth + 1);
        out.put(key, convert(e.getValue(), vt, depth + 1));
      }
      return out;
    }
    if (Collection.class.isAssignableFrom(c)) {
      if (!(v instanceof List)) throw new JsonException("expected an array, got " + kind(v));
      Collection out;
      if (c.isInterface() || Modifier.isAbstract(c.getModifiers())) {
        out = Set.class.isAssignableFrom(c) ? new LinkedHashSet<>() : new ArrayList<>();
      } else {
        out = (Collection) instantiate(c);
      }
      Type et = typeArg(type, 0);
      for (Object o : (List<Object>) v) out.add(convert(o, et, depth + 1));
      return out;
    }
    if (c.isArray()) {
      if (!(v instanceof List)) throw new JsonException("expected an array, got " + kind(v));
      Type et =
          type instanceof GenericArrayType
              ? ((GenericArrayType) type).getGenericComponentType()
              : c.getComponentType();
      List<Object> l = (List<Object>) v;
      Object arr = Array.newInstance(c.getComponentType(), l.size());
      for (int i = 0; i < l.size(); i++) Array.set(arr, i, convert(l.get(i), et, depth + 1));
      return arr;
    }
    if (v instanceof Map) return toBean((Map<String, Object>) v, c, depth);
    throw new JsonException("cannot convert " + kind(v) + " to " + c.getName());
  }

  private static Object instantiate(Class<?> c) throws JsonException {
    try {
      Constructor<?> k = c.getDeclaredConstructor();
      k.setAccessible(true);
      return k.newInstance();
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new JsonException(
          "cannot create " + c.getName() + " (it needs a no-argument constructor): " + e);
    }
  }

  private static Object toBean(Map<String, Object> m, Class<?> c, int depth) throws JsonException {
    if (c.isInterface() || Modifier.isAbstract(c.getModifiers())) {
      throw new JsonException("cannot create abstract type " + c.getName() + " from a JSON object");
    }
    Object bean = instantiate(c);
    Map<String, Method> setters = new LinkedHashMap<>();
    for (Method mm : c.getMethods()) {
      String n = mm.getName();
      if (n.startsWith("set") && n.length() > 3 && mm.getParameterCount() == 1
          && !Modifier.isStatic(mm.getModifiers())) {
        setters.putIfAbsent(n.substring(3).toLowerCase(Locale.ROOT), mm);
      }
    }
    Map<String, Field> fields = new LinkedHashMap<>();
    for (Field f : c.getFields()) {
      if (!Modifier.isStatic(f.getModifiers()) && !Modifier.isFinal(f.getModifiers())) {
        fields.putIfAbsent(f.getName().toLowerCase(Locale.ROOT), f);
      }
    }
    for (Map.Entry<String, Object> e : m.entrySet()) {
      String key = e.getKey().toLowerCase(Locale.ROOT);
      Method setter = setters.get(key);
      try {
        if (setter != null) {
          setter.setAccessible(true);
          setter.invoke(bean, convert(e.getValue(), setter.getGenericParameterTypes()[0], depth + 1));
          continue;
        }
        Field f = fields.get(key);
        if (f != null) f.set(bean, convert(e.getValue(), f.getGenericType(), depth + 1));
      } catch (JsonException ex) {
        throw new JsonException("property \"" + e.getKey() + "\": " + ex.getMessage());
      } catch (ReflectiveOperationException | RuntimeException ex) {
        throw new JsonException("cannot set property \"" + e.getKey() + "\" of " + c.getName() + ": " + ex);
      }
    }
    return bean;
  }
}
