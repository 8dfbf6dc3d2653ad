// A client generated from the served /openapi.json (typescript-fetch), used as an app would use it:
// compiled with `tsc --strict`, then run against a live server. scripts/check-client.sh generates
// the client next to this file as ./client and runs it; nothing generated is kept.
import {
    AuthApi,
    AvailabilityApi,
    BookingStatus,
    BookingsApi,
    Configuration,
    MeApi,
    ResponseError,
    SearchApi,
    SpotsApi,
    Weekday,
} from "./client";
import type { BookingOut, SearchPage } from "./client";

// What this uses of Node's `process`, so that no type package is needed beside TypeScript.
declare const process: { env: Record<string, string | undefined>; exit(code: number): never };

const basePath = process.env.PARKSHARE_URL ?? "http://127.0.0.1:8000";
const anonymous = new Configuration({ basePath });

function fail(message: string): never {
    throw new Error(message);
}

// The types are what a generator makes of the schema: Date for every timestamp, a union of
// literals for every enum. These lines only compile if that is so.
function startsAt(booking: BookingOut): number {
    return booking.start.getTime();
}
const active: ReadonlyArray<BookingStatus> = [BookingStatus.Held, BookingStatus.Requested, BookingStatus.Confirmed];

async function signIn(name: string): Promise<Configuration> {
    const auth = new AuthApi(anonymous);
    const email = `${name}-${Date.now()}-${Math.floor(Math.random() * 1e9)}@client-check.example.org`;
    const password = "client-check-password";
    await auth.register({ registerRequest: { email, password, displayName: name } });
    const tokens = await auth.login({ loginRequest: { email, password } });
    return new Configuration({ basePath, accessToken: tokens.accessToken });
}

async function main(): Promise<void> {
    const owner = await signIn("Owner");
    const driver = await signIn("Driver");
    // A spot far from the demo's, so that this search finds it among few.
    const lat = 51.4 + Math.random() * 0.05;
    const lon = 7.3 + Math.random() * 0.05;
    const spot = await new SpotsApi(owner).createSpot({
        spotCreate: {
            title: "Client check",
            address: { street: "Prüfweg", houseNumber: "1", postalCode: "44135", city: "Dortmund" },
            location: { lat, lon },
            pricing: { hourlyCents: 200 },
        },
    });
    await new AvailabilityApi(owner).createAvailabilityRule({
        spotId: spot.id,
        ruleCreate: { weekdays: Object.values(Weekday), startTime: "00:00", endTime: "24:00" },
    });

    const hour = 3600 * 1000;
    const start = new Date(Math.ceil(Date.now() / hour) * hour + 24 * hour);
    const end = new Date(start.getTime() + 2 * hour);

    // Search needs no token: the client sends none.
    const page: SearchPage = await new SearchApi(anonymous).searchSpots({ lat, lon, radiusM: 500, start, end });
    const item = page.items.find((i) => i.spot.id === spot.id) ?? fail("the new spot is not found");
    if (!(item.spot.createdAt instanceof Date)) fail("timestamps are not parsed as dates");
    if (item.quote.totalCents !== 400) fail(`a quote of ${item.quote.totalCents} cents, not 400`);

    const booking = await new BookingsApi(driver).createBooking({
        bookingCreate: { spotId: spot.id, start, end },
        idempotencyKey: `client-check-${spot.id}`,
    });
    if (!active.includes(booking.status) || booking.status !== BookingStatus.Held) {
        fail(`a new booking is ${booking.status}, not held`);
    }
    if (startsAt(booking) !== start.getTime()) fail("the booking's start came back different");

    // Everything else needs a token: without one the answer is a 401 problem.
    try {
        await new MeApi(anonymous).listMyBookings({});
        fail("listMyBookings answered without a token");
    } catch (error) {
        if (!(error instanceof ResponseError) || error.response.status !== 401) throw error;
    }
    console.log(`client check: ok (search without a token found ${page.items.length} spot(s); booking ${booking.status})`);
}

main().catch((error: unknown) => {
    console.error("client check failed:", error);
    process.exit(1);
});
