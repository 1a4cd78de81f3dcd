package example;

public final class Greeter {
    static String greeting(String who) {
        return "hello from " + who + " (java, version 1)";
    }

    public static void main(String[] args) {
        System.out.println(greeting("tenant-a"));
    }
}
