package example;

import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class GreeterTest {
    @Test
    public void greetsByName() {
        assertTrue(Greeter.greeting("tenant-a").startsWith("hello from tenant-a"));
    }
}
