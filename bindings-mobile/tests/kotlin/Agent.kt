// Issue 18, the agent's phone end to end against a running micropower-server: the operator sets up an area
// with customers and an agent; the phone syncs (GET /v1/agents/{id}/sync) into an AgentStore, goes offline,
// previews and records three sales and a registration, syncs them (POST /sync), re-sends the same batch as
// if the answer had been lost, and the server holds each item once. A sale past the ceiling is refused on the
// phone; a sale the phone allowed is refused by the server once the operator lowered the ceiling.
package org.micropower.tests

import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.time.Duration
import java.time.LocalDate
import java.time.OffsetDateTime
import java.time.format.DateTimeFormatter
import org.micropower.*

/** Raw HTTP with one key: the phone hands the bodies to the store as text, so they stay text here. */
private class Http(val base: String, val key: String) {
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()

    fun send(method: String, path: String, body: String? = null): Pair<Int, String> {
        val publisher = if (body == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofString(body)
        val request = HttpRequest.newBuilder(URI.create(base + path))
            .timeout(Duration.ofSeconds(30))
            .header("Authorization", "Bearer $key")
            .header("Content-Type", "application/json")
            .method(method, publisher)
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        return Pair(response.statusCode(), response.body())
    }

    /** The JSON answer of a request that must answer `want`. */
    fun json(method: String, path: String, body: Any? = null, want: Int = 200): Map<*, *> {
        val text = when (body) {
            null -> null
            is String -> body
            else -> writeJson(body)
        }
        val (status, reply) = send(method, path, text)
        assertEq(want, status, "$method $path -> $reply")
        return parseJson(reply) as Map<*, *>
    }

    fun items(path: String): List<Map<*, *>> = (json("GET", path)["items"] as List<*>).map { it as Map<*, *> }
}

private fun str(v: Any?): String = when (v) {
    is JsonNumber -> v.text
    else -> v as String
}

/** `(kind, amount)` of a list of lines (ledger lines or allocation lines). */
private fun kinds(lines: Any?): List<Pair<String, String>> =
    (lines as List<*>).map { it as Map<*, *> }.map { str(it["kind"]) to str(it["amount"]) }

fun agentScenario(t: Tally, baseUrl: String, adminKey: String) {
    val admin = Http(baseUrl, adminKey)
    val today = LocalDate.now().toString()
    val stamp = System.nanoTime().toString().takeLast(6)
    val shsSerial = "AGTSHS$stamp"
    val meterSerial = "AGTMTR$stamp"
    val newSerial = "AGTNEW$stamp"
    var villageId = ""
    var shsMaker = ""
    var agentId = ""
    var agentKey = ""
    var tvPlanId = ""

    t.check("agent: the operator sets up an area, two customers with an SHS, a meter and a TV plan, and an agent") {
        val cluster = admin.json("POST", "/v1/clusters", mapOf("name" to "Agents' cluster"), 201)["id"] as String
        val area = admin.json("POST", "/v1/areas", mapOf("name" to "Agent area", "cluster_id" to cluster), 201)["id"] as String
        villageId = admin.json("POST", "/v1/villages", mapOf("name" to "Uru", "area_id" to area), 201)["id"] as String
        shsMaker = admin.json(
            "POST", "/v1/manufacturers",
            mapOf("name" to "SunAgent", "device_kinds" to listOf("solar_home_system"), "token_scheme" to "openpaygo"), 201,
        )["id"] as String
        val meterMaker = admin.json(
            "POST", "/v1/manufacturers",
            mapOf("name" to "MeterAgent", "device_kinds" to listOf("meter"), "token_scheme" to "external"), 201,
        )["id"] as String
        val tariff = admin.json(
            "POST", "/v1/tariffs", mapOf("name" to "Flat agent", "currency" to "TZS", "price_per_kwh" to "500"), 201,
        )["id"] as String
        admin.json(
            "POST", "/v1/registrations",
            mapOf(
                "customer" to mapOf("name" to "Amina", "surname" to "Shayo", "phone" to "+255713000101", "village_id" to villageId),
                "device" to mapOf(
                    "serial" to shsSerial, "kind" to "solar_home_system", "manufacturer_id" to shsMaker,
                    "openpaygo" to mapOf("secret_key" to "a29ab82edc5fbbc41ec9530f6dac86b1", "starting_code" to 123456789, "count" to 0),
                ),
                "plan" to mapOf(
                    "appliance" to "SHS 80W", "currency" to "TZS", "total_cost" to "21000", "down_payment" to "0",
                    "installments" to 3, "period" to "weekly", "start_date" to today,
                ),
                "registered_on" to today,
            ),
            201,
        )
        val meter = admin.json(
            "POST", "/v1/registrations",
            mapOf(
                "customer" to mapOf("name" to "Juma", "surname" to "Mrema", "phone" to "+255713000102", "village_id" to villageId),
                "device" to mapOf("serial" to meterSerial, "kind" to "meter", "manufacturer_id" to meterMaker, "tariff_id" to tariff),
                "registered_on" to today,
            ),
            201,
        )
        val meterOwner = (meter["customer"] as Map<*, *>)["id"] as String
        tvPlanId = admin.json(
            "POST", "/v1/customers/$meterOwner/plans",
            mapOf(
                "appliance" to "TV", "currency" to "TZS", "total_cost" to "10000", "down_payment" to "0",
                "installments" to 2, "period" to "weekly", "start_date" to today,
            ),
            201,
        )["id"] as String
        val agent = admin.json(
            "POST", "/v1/agents",
            mapOf(
                "name" to "Baraka", "phone" to "+255754000111", "area_id" to area, "currency" to "TZS",
                "commission" to mapOf("energy_rate" to "0.05", "appliance_rate" to "0.1"), "risk_ceiling" to "20000",
            ),
            201,
        )
        agentId = agent["id"] as String
        agentKey = agent["api_key"] as String
    }
    if (agentKey.isEmpty()) return
    val phone = Http(baseUrl, agentKey)
    val dir = Files.createTempDirectory("agent-store").toFile()
    val path = File(dir, "agent.json").path
    val store = AgentStore.open(path)
    val takenAt = OffsetDateTime.now().withNano(0).format(DateTimeFormatter.ISO_OFFSET_DATE_TIME)
    fun sale(serial: String? = null, planId: String? = null, amount: String) =
        SaleDraft(serial = serial, planId = planId, amount = amount, currency = "TZS", takenAt = takenAt)

    t.check("agent: the phone syncs everything of its area with the agent's key") {
        val (status, body) = phone.send("GET", "/v1/agents/$agentId/sync")
        assertEq(200, status, "GET sync -> $body")
        val summary = store.applySync(body)
        assertTrue(summary.full, "first sync is full")
        assertEq(summary.cursor, store.cursor(), "cursor kept")
        assertEq(setOf(shsSerial, meterSerial), store.devices().map { it.serial }.toSet(), "devices")
        assertTrue(store.devices().none { it.offlineToken }, "no device may get an offline token")
        assertTrue(store.plans().any { it.id == tvPlanId && it.serial == null && it.plan != null }, "the TV plan, payable by id")
        assertEq(setOf("Shayo", "Mrema"), store.customers().map { it.surname }.toSet(), "customers")
        val agent = store.agent()!!
        assertEq("20000" to "0", agent.riskCeiling to agent.balanceWithQueue, "terms and balance")
        // Applying the same answer again changes nothing.
        val file = File(path).readText()
        store.applySync(body)
        assertEq(file, File(path).readText(), "the same answer twice")
    }

    // Offline from here until the POST: previews and records are the store's and the core's alone.
    val recorded = mutableListOf<QueuedItem>()
    t.check("agent: offline, three sales are previewed by the core and recorded with receipts") {
        val shs = store.previewSale(sale(serial = shsSerial.lowercase(), amount = "5000"))
        assertEq(listOf("installment" to "5000"), shs.allocation.lines.map { it.kind.name.lowercase() to it.amount }, "SHS lines")
        assertEq("500", shs.commission, "10 % on installments")
        assertTrue(shs.tokenNote.contains("server"), "token note: ${shs.tokenNote}")
        val meter = store.previewSale(sale(serial = meterSerial, amount = "5000"))
        assertEq("250", meter.commission, "5 % on energy")
        assertEq("10", meter.allocation.token?.quantity, "kWh")
        val tv = store.previewSale(sale(planId = tvPlanId, amount = "4000"))
        assertEq("400", tv.commission, "10 % on the TV's installments")
        assertEq("Juma Mrema", tv.customerName, "customer")
        for (draft in listOf(sale(serial = shsSerial, amount = "5000"), sale(serial = meterSerial, amount = "5000"), sale(planId = tvPlanId, amount = "4000"))) {
            val item = store.recordSale(draft)
            assertEq(ItemStatus.PENDING, item.status, "pending")
            assertTrue(item.receipt.contains(item.clientTxId) && item.receipt.contains("${draft.amount} TZS"), "receipt: ${item.receipt}")
            recorded.add(item)
        }
        assertEq("14000", store.agent()!!.balanceWithQueue, "synced balance + queued sales")
    }

    t.check("agent: offline, a registration is checked by the core and queued") {
        val form = RegistrationForm(
            customer = CustomerInput.New(
                name = "Neema", surname = "Kimaro$stamp", phones = listOf("0713 000 103"), villageId = villageId,
                geo = null, nationalId = null,
            ),
            device = DeviceInput(
                serial = newSerial, kind = DeviceKind.SOLAR_HOME_SYSTEM, manufacturerId = shsMaker,
                openpaygo = OpenPaygoDevice(secretKey = "b29ab82edc5fbbc41ec9530f6dac86b1", startingCode = 223456789u),
            ),
            plan = PlanInput(
                appliance = "SHS 80W", currency = "TZS",
                terms = PlanTerms.Installments(InstallmentTerms(totalCost = "2100", installments = 3u, period = "weekly", startDate = today)),
            ),
            registeredOn = today, phoneRegion = "TZ",
        )
        val bad = assertThrows<MicropowerException.InvalidInput> {
            store.recordRegistration(form.copy(device = form.device.copy(serial = "bad_serial")))
        }
        val errors = (parseJson(bad.details) as Map<*, *>)["errors"] as List<*>
        assertEq(listOf("device.serial"), errors.map { (it as Map<*, *>)["field"] }, "field errors")
        val item = store.recordRegistration(form)
        assertEq(ItemKind.REGISTRATION to ItemStatus.PENDING, item.kind to item.status, "queued")
        recorded.add(item)
    }

    t.check("agent: a fourth sale past the risk ceiling is refused on the phone with its code") {
        val e = assertThrows<MicropowerException.RiskCeilingExceeded> { store.recordSale(sale(serial = shsSerial, amount = "7000")) }
        assertEq("risk_ceiling_exceeded", e.code, "code")
        val details = parseJson(e.details) as Map<*, *>
        assertEq("14000" to "20000", str(details["balance"]) to str(details["risk_ceiling"]), "details")
        assertEq(4, store.queue().size, "nothing queued")
    }

    var batch = ""
    var first: Map<*, *> = emptyMap<String, Any?>()
    t.check("agent: the sync applies the four items in order and the phone keeps the server's answers") {
        batch = store.syncBody()
        val items = (parseJson(batch) as Map<*, *>)["items"] as List<*>
        assertEq(recorded.map { it.clientTxId }, items.map { (it as Map<*, *>)["client_tx_id"] }, "order")
        val (status, body) = phone.send("POST", "/v1/agents/$agentId/sync", batch)
        assertEq(200, status, "POST sync -> $body")
        first = parseJson(body) as Map<*, *>
        val outcomes = store.applySyncAnswer(body)
        assertEq(List(4) { SyncStatus.APPLIED }, outcomes.map { it.status }, "statuses: $body")
        assertEq(listOf(201, 201, 201, 201), outcomes.map { it.httpStatus.toInt() }, "http statuses")
        assertTrue(outcomes.none { it.differsFromPreview }, "the server agreed with the previews: ${outcomes.map { it.differences }}")
        val queue = store.queue()
        assertEq(List(4) { ItemStatus.APPLIED }, queue.map { it.status }, "queue")
        assertEq(listOf("500", "250", "400", null), queue.map { it.commission }, "the server's commissions")
        assertEq("{\"items\":[]}", store.syncBody(), "nothing left to send")
        val agent = store.agent()!!
        assertEq("14000" to "0", agent.balance to agent.queuedSales, "the server's balance")
    }

    t.check("agent: the same batch again (its answer lost) answers every item duplicate with the same answer") {
        val before = store.queue()
        val (status, body) = phone.send("POST", "/v1/agents/$agentId/sync", batch)
        assertEq(200, status, "POST sync again -> $body")
        val again = parseJson(body) as Map<*, *>
        val firstItems = first["items"] as List<*>
        val againItems = again["items"] as List<*>
        assertEq(firstItems.size, againItems.size, "items")
        for ((a, b) in firstItems.zip(againItems)) {
            a as Map<*, *>
            b as Map<*, *>
            assertEq("duplicate", b["status"], "status of ${b["client_tx_id"]}")
            assertTrue(jsonEquals(a["answer"], b["answer"]), "identical answer: ${writeJson(a["answer"])} vs ${writeJson(b["answer"])}")
        }
        val outcomes = store.applySyncAnswer(body)
        assertEq(List(4) { SyncStatus.DUPLICATE }, outcomes.map { it.status }, "outcomes")
        assertEq(before, store.queue(), "the phone's queue is unchanged")
    }

    t.check("agent: the server holds exactly three payments, one registration and the six ledger lines") {
        val payments = admin.items("/v1/payments?limit=500")
            .map { admin.json("GET", "/v1/payments/${it["payment_id"]}") }
            .filter { it["provider"] == "agent:$agentId" }
        assertEq(3, payments.size, "payments of provider agent:$agentId")
        assertEq(recorded.take(3).map { it.clientTxId }.toSet(), payments.map { it["provider_tx_id"] }.toSet(), "their client_tx_ids")
        val found = admin.items("/v1/customers?query=Kimaro$stamp")
        assertEq(1, found.size, "the registered customer, once")
        admin.json("GET", "/v1/devices/$newSerial")
        val ledger = kinds(admin.json("GET", "/v1/agents/$agentId/ledger?limit=500")["items"])
        assertEq(
            listOf("sale" to "4000", "sale" to "5000", "sale" to "5000", "commission" to "250", "commission" to "400", "commission" to "500"),
            ledger.sortedWith(compareBy({ it.first != "sale" }, { it.second.toBigDecimal() })),
            "ledger lines",
        )
        val agent = admin.json("GET", "/v1/agents/$agentId")
        assertEq("14000" to "1150", str(agent["balance"]) to str(agent["commission_earned"]), "balance and commission")
        // What the phone shows for each sale is what the server decided.
        val byTx = payments.associateBy { it["provider_tx_id"] }
        for (item in store.queue().take(3)) {
            val answer = parseJson(item.answerJson!!) as Map<*, *>
            assertEq(byTx[item.clientTxId]!!["payment_id"], answer["payment_id"], "payment of ${item.clientTxId}")
        }
    }

    t.check("agent: a sale the phone allowed is refused at sync once the operator lowered the ceiling") {
        val (status, body) = phone.send("GET", "/v1/agents/$agentId/sync?since=${java.net.URLEncoder.encode(store.cursor()!!, "UTF-8")}")
        assertEq(200, status, "GET sync since -> $body")
        store.applySync(body)
        val item = store.recordSale(sale(serial = shsSerial, amount = "3000"))
        assertEq("17000", store.agent()!!.balanceWithQueue, "allowed on the phone")
        admin.json("PATCH", "/v1/agents/$agentId", mapOf("risk_ceiling" to "15000"))
        val (posted, answer) = phone.send("POST", "/v1/agents/$agentId/sync", store.syncBody())
        assertEq(200, posted, "POST sync -> $answer")
        val outcome = store.applySyncAnswer(answer).single()
        assertEq(SyncStatus.REFUSED to "risk_ceiling_exceeded", outcome.status to outcome.code, "refused by the server")
        assertEq(422, outcome.httpStatus.toInt(), "http status")
        assertTrue(outcome.differsFromPreview, "differs from the preview")
        val queued = store.queue().single { it.clientTxId == item.clientTxId }
        assertEq(ItemStatus.REFUSED to "risk_ceiling_exceeded", queued.status to queued.code, "the phone shows the refusal")
        assertEq("14000", str(admin.json("GET", "/v1/agents/$agentId")["balance"]), "nothing written")
        assertEq("15000", store.agent()!!.riskCeiling, "the new ceiling reached the phone")
    }
    dir.deleteRecursively()
}
