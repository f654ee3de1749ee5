// Packed into lib/greeter.jar of the test functions: proves lib/*.jar is on the classpath.
package com.example.lib;

public final class Greeter {
  private Greeter() {}

  public static String greet(Object who) {
    return "hello " + who;
  }
}
