// The browser build's typings: init() first, then the same functions.
import init, { energyForMoney, type EnergyPurchase, type InitOutput } from "micropower/web";

export async function preview(): Promise<EnergyPurchase> {
  const wasm: InitOutput = await init({ module_or_path: new URL("micropower_bg.wasm", "https://example.invalid/") });
  void wasm.memory;
  return energyForMoney({ currency: "TZS", price_per_kwh: "500" }, "1000");
}
