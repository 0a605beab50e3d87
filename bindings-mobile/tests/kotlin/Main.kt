// The Kotlin test runner of the mobile bindings: a plain `main` (no gradle, no JUnit here), run on the JVM
// with JNA loading the cdylib. It closes on one line `kotlin: N passed, M failed` and exits non-zero on a
// failure.
//
// Environment: MICROPOWER_VECTORS (the tests/vectors folder), MICROPOWER_TEST_URL and
// MICROPOWER_TEST_ADMIN_KEY (a running micropower-server for the registration and agent scenarios),
// MICROPOWER_TEST_SERVER_ONLY=1 to run only those scenarios (the second run, on PostgreSQL).
package org.micropower.tests

import java.io.File
import kotlin.system.exitProcess
import org.micropower.*

class Tally {
    var passed = 0
    var failed = 0

    fun check(name: String, body: () -> Unit) {
        try {
            body()
            passed++
        } catch (e: Throwable) {
            failed++
            println("FAIL $name\n      ${e.message ?: e}")
        }
    }
}

fun assertEq(want: Any?, got: Any?, what: String = "") {
    if (want != got) throw AssertionError("$what: want $want, got $got")
}

fun assertTrue(ok: Boolean, what: String) {
    if (!ok) throw AssertionError(what)
}

/** Runs `body`, which must throw the MicropowerException subclass `T`; returns it. */
inline fun <reified T : MicropowerException> assertThrows(body: () -> Unit): T {
    try {
        body()
    } catch (e: MicropowerException) {
        if (e is T) return e
        throw AssertionError("want ${T::class.simpleName}, got ${e.javaClass.simpleName}: ${e.message}")
    }
    throw AssertionError("want ${T::class.simpleName}, nothing was thrown")
}

fun errorChecks(t: Tally) {
    t.check("every core error code is a MicropowerException variant of the core's name") {
        val codes = errorCodes()
        assertTrue(codes.size >= 22, "error codes: $codes")
        for (code in codes) {
            val cls = Class.forName("org.micropower.MicropowerException\$${pascal(code)}")
            assertTrue(MicropowerException::class.java.isAssignableFrom(cls), "$cls is not a MicropowerException")
            assertTrue(cls.getMethod("getReason") != null && cls.getMethod("getCode") != null, "$cls fields")
        }
    }
    t.check("a typed refusal: UnknownSerial-style variant with code, reason and details") {
        val e = assertThrows<MicropowerException.InvalidSerial> { normalizeSerial("SHS_1") }
        assertEq("invalid_serial", e.code, "code")
        assertTrue(e.reason.contains("only the letters A-Z and digits 0-9"), "reason: ${e.reason}")
        val details = parseJson(e.details) as Map<*, *>
        assertEq("SHS_1", details["raw"], "details.raw")
        assertEq(e.reason, details["message"], "details.message")
        assertTrue(e.message!!.contains(e.reason), "Throwable.message carries the reason: ${e.message}")
    }
    t.check("AmountBelowMinimum carries minimum_amount in details") {
        val snapshot = AccountSnapshot(
            device = DeviceAccount(serial = "M1", kind = DeviceKind.METER, registeredOn = "2026-01-01",
                owner = Owner(id = "c1", name = "Amina", surname = "Juma")),
            billing = Billing.Meter(
                tariff = Tariff(currency = "TZS", pricePerKwh = "500", minimumPurchase = "1000"),
                accessRate = AccessRateState(),
            ),
        )
        val e = assertThrows<MicropowerException.AmountBelowMinimum> {
            validatePayment(snapshot, ValidationRequest(serial = "m-1", amount = "200", currency = "TZS",
                receivedOn = "2026-01-02", channel = Channel.PROVIDER))
        }
        assertEq("1000", (parseJson(e.details) as Map<*, *>)["minimum_amount"], "minimum_amount")
    }
    t.check("a malformed decimal is InvalidInput naming its field") {
        val e = assertThrows<MicropowerException.InvalidInput> {
            energyForMoney(Tariff(currency = "TZS", pricePerKwh = "5OO"), "1000")
        }
        assertEq("tariff.price_per_kwh", (parseJson(e.details) as Map<*, *>)["field"], "field")
    }
    t.check("the generic call refuses an unknown function as NotFound") {
        assertThrows<MicropowerException.NotFound> { call("no_such_function", "{}") }
        assertThrows<MicropowerException.InvalidInput> { call("normalize_serial", "not json") }
    }
}

fun main() {
    val t = Tally()
    if (System.getenv("MICROPOWER_TEST_SERVER_ONLY") != "1") {
        val vectors = File(System.getenv("MICROPOWER_VECTORS") ?: "tests/vectors")
        errorChecks(t)
        runVectors(t, vectors)
    }
    val url = System.getenv("MICROPOWER_TEST_URL")
    val key = System.getenv("MICROPOWER_TEST_ADMIN_KEY")
    if (url != null && key != null) {
        registrationScenario(t, url.trimEnd('/'), key)
        agentScenario(t, url.trimEnd('/'), key)
    } else {
        t.check("registration scenario") { throw AssertionError("MICROPOWER_TEST_URL / MICROPOWER_TEST_ADMIN_KEY not set") }
    }
    println("kotlin: ${t.passed} passed, ${t.failed} failed")
    exitProcess(if (t.failed == 0) 0 else 1)
}
