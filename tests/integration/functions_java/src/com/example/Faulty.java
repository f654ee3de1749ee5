// JSON function misbehaving on demand: mode throw / sleep / exit / ok.
package com.example;

import java.util.Map;

public class Faulty {
  public static String handle(Map<String, Object> event) throws Exception {
    String mode = String.valueOf(event.get("mode"));
    switch (mode) {
      case "throw":
        throw new IllegalStateException("bad thing " + event.get("tag"));
      case "sleep":
        Thread.sleep(((Number) event.get("ms")).longValue());
        return "slept";
      case "exit":
        System.exit(7);
        return "unreachable";
      default:
        return "ok " + event.get("tag");
    }
  }
}
